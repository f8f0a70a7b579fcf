//! How one call's rows are spread over the running copies of an external model (`[model]
//! workers = N`): contiguous row blocks, each sent to one copy as one request, the copies
//! working concurrently, the answers written back at their blocks' rows, so the result is the
//! same as one copy answering the whole call.
//!
//! - Likelihoods are pairwise (row r's value depends on row r alone), so a call of n rows is
//!   cut into min(n, N) blocks of ⌊n/N⌋ or ⌈n/N⌉ rows ([`balanced`]): the same values for any N.
//! - A simulation draws its noise from the request's seed, so its blocks must not depend on N:
//!   [`fixed`] blocks of [`SIMULATED_ROWS_PER_REQUEST`] rows, each with its own seed drawn from
//!   the caller's stream in block order. A call of at most that many rows (a training step's J
//!   observations) is one request with one seed; the standardiser's 10 000 prior-predictive
//!   draws are 40 requests, spread over the copies.

use std::ops::Range;
use std::thread;

/// Rows of one `simulate` request. Fixed (not derived from the number of copies) so that the
/// same seed gives the same x for any number of workers; small enough that a large simulation
/// is spread evenly over a few copies, large enough that the round trip (~0.1 ms for a Python
/// model) stays small beside 256 rows of any simulator worth parallelising.
pub(super) const SIMULATED_ROWS_PER_REQUEST: usize = 256;

/// Rows `0..n_rows` as at most `n_parts` contiguous ranges in row order, whose sizes differ by
/// at most one; no range is empty.
pub(super) fn balanced(n_rows: usize, n_parts: usize) -> Vec<Range<usize>> {
    let n_parts = n_parts.min(n_rows).max(1);
    (0..n_parts).map(|k| k * n_rows / n_parts..(k + 1) * n_rows / n_parts).filter(|r| !r.is_empty()).collect()
}

/// Rows `0..n_rows` as consecutive ranges of `block` rows, the last one shorter.
pub(super) fn fixed(n_rows: usize, block: usize) -> Vec<Range<usize>> {
    (0..n_rows).step_by(block.max(1)).map(|start| start..(start + block).min(n_rows)).collect()
}

/// Runs `work(copy, item)` for every item: item i on copy i mod `n_copies`, each copy taking
/// its items in order, the copies concurrently (one scoped thread per copy in use; the caller's
/// thread serves copy 0). A copy stops at its first error; the result is the error of the
/// earliest failed item, so it does not depend on which thread finished first.
pub(super) fn spread<T: Send, E: Send>(
    items: Vec<T>,
    n_copies: usize,
    work: impl Fn(usize, T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let n_used = n_copies.min(items.len());
    if n_used == 0 {
        return Ok(());
    }
    let mut queues: Vec<Vec<(usize, T)>> = (0..n_used).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        queues[i % n_used].push((i, item));
    }
    let serve = |copy: usize, queue: Vec<(usize, T)>| -> Option<(usize, E)> {
        queue.into_iter().find_map(|(i, item)| work(copy, item).err().map(|e| (i, e)))
    };
    let mut queues = queues.into_iter().enumerate();
    let (first_copy, first_queue) = queues.next().expect("n_used ≥ 1");
    let failures: Vec<(usize, E)> = thread::scope(|scope| {
        let serve = &serve;
        let others: Vec<_> = queues.map(|(copy, queue)| scope.spawn(move || serve(copy, queue))).collect();
        let mut failures: Vec<_> = serve(first_copy, first_queue).into_iter().collect();
        for handle in others {
            failures.extend(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        failures
    });
    match failures.into_iter().min_by_key(|(i, _)| *i) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn balanced_blocks_cover_the_rows_in_order() {
        for n_rows in [0, 1, 3, 4, 5, 8191, 8192] {
            for n_parts in [1, 2, 3, 4, 7] {
                let blocks = balanced(n_rows, n_parts);
                let covered: Vec<usize> = blocks.iter().flat_map(Clone::clone).collect();
                assert_eq!(covered, (0..n_rows).collect::<Vec<_>>(), "{n_rows} rows, {n_parts} parts");
                assert!(blocks.len() <= n_parts && blocks.iter().all(|b| !b.is_empty()));
                let (min, max) = (blocks.iter().map(|b| b.len()).min(), blocks.iter().map(|b| b.len()).max());
                assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "{blocks:?}");
            }
        }
        assert_eq!(balanced(10, 4), [0..2, 2..5, 5..7, 7..10]);
    }

    #[test]
    fn fixed_blocks_do_not_depend_on_anything_but_the_rows() {
        assert_eq!(fixed(0, 4), Vec::<Range<usize>>::new());
        assert_eq!(fixed(4, 4).len(), 1);
        assert_eq!(fixed(4, 4)[0], 0..4);
        assert_eq!(fixed(10, 4), [0..4, 4..8, 8..10]);
    }

    #[test]
    fn spread_sends_item_i_to_copy_i_mod_n_and_reports_the_earliest_failure() {
        let seen = Mutex::new(Vec::new());
        let result = spread((0..10).collect(), 3, |copy, item: usize| {
            seen.lock().unwrap().push((item, copy));
            if item == 5 || item == 4 {
                Err(format!("item {item} failed on copy {copy}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err("item 4 failed on copy 1".to_string()));
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        // Copy 1 stops at item 4 (never runs 7), copy 2 at item 5 (never runs 8).
        assert_eq!(seen, [(0, 0), (1, 1), (2, 2), (3, 0), (4, 1), (5, 2), (6, 0), (9, 0)]);
        assert_eq!(spread(Vec::<usize>::new(), 4, |_, _| Err::<(), _>("never")), Ok(()));
    }
}
