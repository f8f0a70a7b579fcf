/// Standard normal base N(0, I).
#[derive(Clone, Debug)]
pub struct StandardNormal;
