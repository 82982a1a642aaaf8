//! `std::sort` and `std::partial_sort` step for step as GNU libstdc++ runs
//! them, so that equal keys come out in the order MXNet's sorting ops give.
//!
//! MXNet's CPU `topk`, `sort` and `argsort` sort a lane's indices with
//! `std::sort` when k·8 > n and with `std::partial_sort` otherwise, under
//! `vals[a] < vals[b]` (ascending) or `vals[a] > vals[b]`. Neither is
//! stable, and which of two equal values comes first depends on every
//! comparison and move the library makes: detection heads whose scores
//! saturate (CenterNet's top 100 of a sigmoid heat map) differ in their
//! boxes unless the ties fall the same way. The functions here make the same
//! comparisons and moves as libstdc++'s introsort (median-of-three pivot,
//! 16-element insertion-sort threshold, heap-sort fallback at depth
//! 2·⌊log₂ n⌋) and its heap-based partial sort.
//!
//! `less` need not be a strict weak order (a NaN compares false both ways):
//! the result is still the one libstdc++ computes, except that the
//! unguarded insertion, which could then run past the front of the slice,
//! stops there.

/// Elements at or below this count are left to the final insertion sort.
const THRESHOLD: usize = 16;

/// Sorts `v` as `std::sort(v.begin(), v.end(), less)` does.
pub(crate) fn sort<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) {
    if v.len() < 2 {
        return;
    }
    let depth = 2 * v.len().ilog2() as usize;
    introsort_loop(v, depth, less);
    final_insertion_sort(v, less);
}

/// Puts the `middle` smallest elements of `v` first, in order, as
/// `std::partial_sort(v.begin(), v.begin() + middle, v.end(), less)` does;
/// the rest are left in the order the heap selection leaves them.
pub(crate) fn partial_sort<T: Copy>(v: &mut [T], middle: usize, less: &impl Fn(T, T) -> bool) {
    if middle == 0 {
        return;
    }
    heap_select(v, middle, less);
    sort_heap(&mut v[..middle], less);
}

fn introsort_loop<T: Copy>(v: &mut [T], mut depth: usize, less: &impl Fn(T, T) -> bool) {
    let mut last = v.len();
    while last > THRESHOLD {
        if depth == 0 {
            partial_sort(&mut v[..last], last, less);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(&mut v[..last], less);
        introsort_loop(&mut v[cut..last], depth, less);
        last = cut;
    }
}

/// Moves the median of v[1], v[mid], v[last − 1] to v[0] and partitions
/// the rest around it; returns where the upper part starts.
fn partition_pivot<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) -> usize {
    let n = v.len();
    move_median_to_first(v, 1, n / 2, n - 1, less);
    unguarded_partition(v, 1, n, less)
}

fn move_median_to_first<T: Copy>(
    v: &mut [T],
    a: usize,
    b: usize,
    c: usize,
    less: &impl Fn(T, T) -> bool,
) {
    let m = if less(v[a], v[b]) {
        if less(v[b], v[c]) {
            b
        } else if less(v[a], v[c]) {
            c
        } else {
            a
        }
    } else if less(v[a], v[c]) {
        a
    } else if less(v[b], v[c]) {
        c
    } else {
        b
    };
    v.swap(0, m);
}

/// Hoare partition of v[first..last] around the pivot at v[0].
fn unguarded_partition<T: Copy>(
    v: &mut [T],
    mut first: usize,
    mut last: usize,
    less: &impl Fn(T, T) -> bool,
) -> usize {
    let pivot = v[0];
    loop {
        // The pivot (or an element swapped behind it) stops both scans in
        // a strict weak order; the bounds only matter for one that is not.
        while first < v.len() - 1 && less(v[first], pivot) {
            first += 1;
        }
        last -= 1;
        while last > 0 && less(pivot, v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn final_insertion_sort<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) {
    if v.len() > THRESHOLD {
        insertion_sort(&mut v[..THRESHOLD], less);
        for i in THRESHOLD..v.len() {
            unguarded_linear_insert(v, i, less);
        }
    } else {
        insertion_sort(v, less);
    }
}

fn insertion_sort<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) {
    for i in 1..v.len() {
        let val = v[i];
        if less(val, v[0]) {
            v.copy_within(0..i, 1);
            v[0] = val;
        } else {
            unguarded_linear_insert(v, i, less);
        }
    }
}

/// Moves v[i] left past every element it is less than.
fn unguarded_linear_insert<T: Copy>(v: &mut [T], mut i: usize, less: &impl Fn(T, T) -> bool) {
    let val = v[i];
    while i > 0 && less(val, v[i - 1]) {
        v[i] = v[i - 1];
        i -= 1;
    }
    v[i] = val;
}

/// Makes v[..middle] a max-heap of the `middle` smallest elements.
fn heap_select<T: Copy>(v: &mut [T], middle: usize, less: &impl Fn(T, T) -> bool) {
    make_heap(&mut v[..middle], less);
    for i in middle..v.len() {
        if less(v[i], v[0]) {
            // __pop_heap(first, middle, i): v[i] takes the top's place.
            let value = v[i];
            v[i] = v[0];
            adjust_heap(&mut v[..middle], 0, value, less);
        }
    }
}

fn make_heap<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) {
    let len = v.len();
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = v[parent];
        adjust_heap(v, parent, value, less);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

fn sort_heap<T: Copy>(v: &mut [T], less: &impl Fn(T, T) -> bool) {
    let mut last = v.len();
    while last > 1 {
        last -= 1;
        let value = v[last];
        v[last] = v[0];
        adjust_heap(&mut v[..last], 0, value, less);
    }
}

/// Sifts the hole at `hole` down to a leaf, then pushes `value` up from
/// there (libstdc++'s `__adjust_heap` + `__push_heap`).
fn adjust_heap<T: Copy>(v: &mut [T], mut hole: usize, value: T, less: &impl Fn(T, T) -> bool) {
    let len = v.len();
    let top = hole;
    let mut child = hole;
    while child < (len.saturating_sub(1)) / 2 {
        child = 2 * (child + 1);
        if less(v[child], v[child - 1]) {
            child -= 1;
        }
        v[hole] = v[child];
        hole = child;
    }
    if len & 1 == 0 && len >= 2 && child == (len - 2) / 2 {
        child = 2 * (child + 1);
        v[hole] = v[child - 1];
        hole = child - 1;
    }
    // __push_heap
    while hole > top {
        let parent = (hole - 1) / 2;
        if !less(v[parent], value) {
            break;
        }
        v[hole] = v[parent];
        hole = parent;
    }
    v[hole] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    fn values(n: usize, distinct: u32, seed: u64) -> Vec<u32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % u64::from(distinct)) as u32
            })
            .collect()
    }

    #[test]
    fn sorts_and_selects_like_a_sort() {
        for n in [0, 1, 2, 3, 15, 16, 17, 33, 100, 1000, 5000] {
            for distinct in [1, 3, 1000] {
                let v = values(n, distinct, n as u64 + 7);
                let mut want = v.clone();
                want.sort_unstable();
                let mut got = v.clone();
                sort(&mut got, &|a, b| a < b);
                assert_eq!(got, want, "sort n={n} distinct={distinct}");
                for k in [0, 1, n / 3, n].into_iter().filter(|&k| k <= n) {
                    let mut got = v.clone();
                    partial_sort(&mut got, k, &|a, b| a < b);
                    assert_eq!(got[..k], want[..k], "partial n={n} k={k}");
                    let mut rest = got.clone();
                    rest.sort_unstable();
                    assert_eq!(rest, want, "a permutation");
                }
            }
        }
    }

    #[test]
    fn a_sorted_input_takes_the_heap_fallback_only_when_deep() {
        // Descending runs of equal keys exercise the partition's scans.
        let mut v: Vec<(u32, usize)> = (0..300).map(|i| ((300 - i) as u32 / 7, i)).collect();
        sort(&mut v, &|a, b| a.0 < b.0);
        assert!(v.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn incomparable_values_neither_panic_nor_lose_elements() {
        let nan = f32::NAN;
        let mut v: Vec<usize> = (0..200).collect();
        let vals: Vec<f32> = (0..200)
            .map(|i| if i % 3 == 0 { nan } else { (i % 17) as f32 })
            .collect();
        sort(&mut v, &|a, b| vals[a] > vals[b]);
        let mut seen = v.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        let mut w: Vec<usize> = (0..200).collect();
        partial_sort(&mut w, 20, &|a, b| vals[a] > vals[b]);
        w.sort_unstable();
        assert_eq!(w, (0..200).collect::<Vec<_>>());
    }
}
