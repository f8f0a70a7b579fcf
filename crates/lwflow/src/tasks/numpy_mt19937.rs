//! numpy's legacy `RandomState(seed).randn()`: MT19937 (Matsumoto & Nishimura 1998) seeded with
//! `init_genrand(seed)`, 53-bit doubles (a·2²⁶ + b)/2⁵³ from two 32-bit words (a = w₁ >> 5,
//! b = w₂ >> 6), and the Marsaglia polar method that returns the second of each pair first and
//! caches the other (numpy `legacy_gauss`).
//!
//! Not a random stream of lwflow (those all come from [`crate::rng`]): it exists only to rebuild
//! fixed data that sbibm generated with numpy, bit for bit, here the `bernoulli_glm` stimulus
//! (`np.random.RandomState(42).randn(100)`) and the `slcp_distractors` distractor mixture and
//! permutation (`np.random.seed(42)`, then `normal` and `permutation`).

/// Words of MT19937 state.
const N_STATE: usize = 624;
/// MT19937 middle word offset.
const M_OFFSET: usize = 397;

/// numpy's `RandomState` restricted to `randn`.
pub(crate) struct NumpyLegacyRng {
    state: [u32; N_STATE],
    pos: usize,
    cached_gauss: Option<f64>,
}

impl NumpyLegacyRng {
    /// `np.random.RandomState(seed)` for a seed in [0, 2³²).
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N_STATE];
        state[0] = seed;
        for i in 1..N_STATE {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Self { state, pos: N_STATE, cached_gauss: None }
    }

    /// One tempered 32-bit MT19937 word (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N_STATE {
            for k in 0..N_STATE {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N_STATE] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + M_OFFSET) % N_STATE] ^ (y >> 1) ^ mag;
            }
            self.pos = 0;
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `random_interval(max)`: uniform on {0, …, max} by masked rejection on 32-bit
    /// words (max < 2³²).
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> max.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(n)` of the legacy `RandomState`: `arange(n)` shuffled by Fisher–Yates from the
    /// end, x[i] ↔ x[interval(i)] for i = n − 1, …, 1.
    pub fn permutation(&mut self, n: u32) -> Vec<usize> {
        let mut x: Vec<usize> = (0..n as usize).collect();
        for i in (1..n).rev() {
            let j = self.interval(i) as usize;
            x.swap(i as usize, j);
        }
        x
    }

    /// `random_sample()`: a double in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randn()`: one standard normal draw (polar method, pairs cached as numpy does).
    pub fn next_gauss(&mut self) -> f64 {
        if let Some(g) = self.cached_gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.next_f64() - 1.0;
            let x2 = 2.0 * self.next_f64() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_random_state_42() {
        // np.random.RandomState(42).random_sample() and .randn(10) (numpy's documented stream).
        assert!((NumpyLegacyRng::new(42).next_f64() - 0.374_540_118_847_362_5).abs() < 1e-16);
        let want = [
            0.496_714_153_011_232_7,
            -0.138_264_301_171_184_66,
            0.647_688_538_100_692_5,
            1.523_029_856_408_025_4,
            -0.234_153_374_723_335_97,
            -0.234_136_956_949_180_55,
            1.579_212_815_507_391_5,
            0.767_434_729_152_908_8,
            -0.469_474_385_934_952_1,
            0.542_560_043_585_964_7,
        ];
        let mut rng = NumpyLegacyRng::new(42);
        for (i, w) in want.iter().enumerate() {
            let g = rng.next_gauss();
            assert!((g - w).abs() < 1e-15, "draw {i}: {g} vs {w}");
        }
    }
}
