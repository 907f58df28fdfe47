//! Embeddings kept twice: as floats row by row, and as 8-bit integers in blocks of [`BLOCK`]
//! rows, each block with its own scale. A query is scanned against the integers (a quarter of
//! the floats' bytes, where the scan of a large memory is bound by memory bandwidth) with exact
//! integer multiply-adds, and a bound on what rounding to integers can hide tells which rows
//! may still reach a threshold; only those are scored in floats, by the same sum as the kernel
//! of [`super::blocks`], so a similarity is the same number to the bit.

use super::blocks::BLOCK;

/// The largest magnitude of a stored integer: a block's largest component maps to it.
const LEVELS: f64 = 127.0;

/// Bytes of a block's bound.
const BOUND: usize = size_of::<f64>();

/// Rows in blocks of 8-bit integers, and the same rows as floats.
#[derive(Clone, Debug)]
pub struct Quantized {
    dim: usize,
    len: usize,
    /// Block `b` at `b * stride`: for each dimension pair `p`, 32 bytes, row `j`'s components
    /// `2p` and `2p + 1` at `2j` and `2j + 1` (zero past the last row and the last dimension:
    /// one vector of pairs that a multiply-add of adjacent pairs turns into one sum per row);
    /// then the inverse of the block's scale and half the largest sum of a row's integer
    /// magnitudes, two floats' bytes, where the scan reads them next.
    data: Vec<i8>,
    /// Each block's scale: its largest magnitude over [`LEVELS`].
    scales: Vec<f64>,
    rows: Vec<f32>,
}

/// What a row's integer sum must reach, for one query and threshold ([`Threshold::new`]).
#[derive(Clone, Copy, Debug)]
pub struct Threshold {
    scaled: f64,
    hidden: f64,
}

impl Threshold {
    /// No threshold: every block passes.
    pub const NONE: Self = Self { scaled: f64::NAN, hidden: 0.0 };

    /// A bound on the integer sums of the rows that may have a similarity (as the kernel
    /// computes it) of at least `tau` to the query (`query_norm` its norm, `max_norm` the rows'
    /// largest, `slack` the kernel's relative rounding): a row whose sum is below its block's
    /// [`Quantized::floor`] cannot. Not a number where the bound tells nothing.
    #[must_use]
    pub fn new(query: &QuantizedQuery, tau: f64, query_norm: f64, max_norm: f64, slack: f64) -> Self {
        // q.x = sq sb (qi.xi + qi.ex + eq.xi + eq.ex), each rounding error e at most 1/2: the
        // sum must reach (tau / sq - |qi| / 2 - dim / 4) / sb - |xi| / 2.
        let scaled = (tau - slack * query_norm * max_norm) / query.scale;
        // sb = 1 / inverse, so the sum must reach scaled * inverse - hidden - |xi| / 2.
        Self { scaled, hidden: 0.5 * query.l1 + 0.25 * query.dim as f64 }
    }
}

/// A query rounded to 16-bit integers, with what the bound needs.
#[derive(Clone, Debug, Default)]
pub struct QuantizedQuery {
    /// Adjacent components `2p`, `2p + 1` as the low and high halves of one `i32`.
    pairs: Vec<i32>,
    scale: f64,
    /// The sum of the integers' magnitudes.
    l1: f64,
    dim: usize,
}

impl QuantizedQuery {
    /// `query` rounded to integers small enough that no sum of products overflows.
    pub fn set(&mut self, query: &[f32]) {
        let dim = query.len();
        // |sum| <= dim * 127 * levels < 2^31.
        let levels = (f64::from(i32::MAX) / (LEVELS * dim.max(1) as f64)).floor().min(f64::from(i16::MAX));
        let largest = query.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
        self.scale = largest / levels;
        self.dim = dim;
        let int = |x: f32| round_to(f64::from(x), self.scale, levels) as i16;
        self.l1 = query.iter().map(|&x| f64::from(int(x)).abs()).sum();
        self.pairs.clear();
        self.pairs.extend(query.chunks(2).map(|p| {
            let hi = p.get(1).map_or(0, |&x| int(x));
            i32::from(int(p[0]) as u16) | (i32::from(hi as u16) << 16)
        }));
    }
}

/// Whether an integer sum is below a block's [`Quantized::floor`]: its row cannot reach the
/// threshold (never below a floor that is not a number).
#[must_use]
pub fn below(sum: i32, floor: f64) -> bool {
    f64::from(sum) < floor
}

/// `x / scale` to the nearest integer within `levels` (0 where the scale is 0 or not finite,
/// which the bound then treats as telling nothing).
fn round_to(x: f64, scale: f64, levels: f64) -> f64 {
    if scale > 0.0 && scale.is_finite() { (x / scale).round().clamp(-levels, levels) } else { 0.0 }
}

impl Quantized {
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self { dim, len: 0, data: Vec::new(), scales: Vec::new(), rows: Vec::new() }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn pairs(&self) -> usize {
        self.dim.div_ceil(2)
    }

    /// Bytes per block: its pairs, then its two bounds.
    fn stride(&self) -> usize {
        self.pairs() * 2 * BLOCK + 2 * BOUND
    }

    fn block(&self, b: usize) -> &[i8] {
        &self.data[b * self.stride()..(b + 1) * self.stride()]
    }

    fn set_bounds(&mut self, b: usize, bounds: [f64; 2]) {
        let at = (b + 1) * self.stride() - 2 * BOUND;
        for (i, bound) in bounds.into_iter().enumerate() {
            let bytes: [i8; BOUND] = pulp::cast(bound);
            self.data[at + i * BOUND..][..BOUND].copy_from_slice(&bytes);
        }
    }

    /// Row `i` as floats.
    #[must_use]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    pub fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.dim);
        let (b, j) = (self.len / BLOCK, self.len % BLOCK);
        if j == 0 {
            self.data.resize(self.data.len() + self.stride(), 0);
            self.scales.push(0.0);
            self.set_bounds(b, [f64::INFINITY, 0.0]);
        }
        self.rows.extend_from_slice(row);
        self.len += 1;
        let largest = row.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
        // NaN stays NaN (the block then rules nothing out).
        if largest > self.scales[b] * LEVELS || largest.is_nan() {
            // A larger scale for the block: its earlier rows again.
            self.scales[b] = largest / LEVELS;
            self.set_bounds(b, [1.0 / self.scales[b], 0.0]);
            for r in 0..j {
                self.quantize(b, r);
            }
        }
        self.quantize(b, j);
    }

    fn quantize(&mut self, b: usize, j: usize) {
        let (dim, stride, scale) = (self.dim, self.stride(), self.scales[b]);
        let row = &self.rows[(b * BLOCK + j) * dim..][..dim];
        let mut l1 = 0;
        for (d, &x) in row.iter().enumerate() {
            let v = round_to(f64::from(x), scale, LEVELS) as i8;
            l1 += i32::from(v).abs();
            self.data[b * stride + (d / 2 * BLOCK + j) * 2 + d % 2] = v;
        }
        let [inverse, half_l1] = block_bounds(self.block(b));
        self.set_bounds(b, [inverse, half_l1.max(0.5 * f64::from(l1))]);
    }

    /// The integer sum below which no row of block `b` reaches `threshold` (not a number, which
    /// no sum is below, where the bound tells nothing: a scale of 0 or not finite, a query of
    /// 0, no threshold yet).
    #[must_use]
    pub fn floor(&self, b: usize, threshold: &Threshold) -> f64 {
        block_floor(self.block(b), threshold)
    }

    /// The blocks some of whose rows may reach `threshold`, each with its rows' integer sums
    /// with `query`, into `passed` (every block, with [`Threshold::NONE`]).
    pub fn scan_into(&self, query: &QuantizedQuery, threshold: &Threshold, passed: &mut Vec<Passed>) {
        passed.clear();
        let scan = Scan {
            data: &self.data[..self.len.div_ceil(BLOCK) * self.stride()],
            query: &query.pairs,
            threshold,
            passed,
        };
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V4::try_new() {
                return simd.vectorize(V4Scan { simd, scan });
            }
            if let Some(simd) = pulp::x86::V3::try_new() {
                return simd.vectorize(V3Scan { simd, scan });
            }
        }
        scan.run(scalar_sums);
    }
}

/// A block's integer sums without vectors: each row's pairs multiplied and added as the
/// vector instructions do (exact, so the same sums).
fn scalar_sums(block: &[i8], query: &[i32]) -> [i32; BLOCK] {
    let mut sums = [0i32; BLOCK];
    for (pair, &q) in block.chunks_exact(2 * BLOCK).zip(query) {
        let (q0, q1) = (i32::from(q as i16), i32::from((q >> 16) as i16));
        for (s, x) in sums.iter_mut().zip(pair.chunks_exact(2)) {
            *s = s.wrapping_add(i32::from(x[0]) * q0 + i32::from(x[1]) * q1);
        }
    }
    sums
}

/// A block some of whose rows may reach a threshold, and its rows' integer sums (padding
/// rows' included).
#[derive(Clone, Copy, Debug)]
pub struct Passed {
    pub block: usize,
    pub sums: [i32; BLOCK],
}

/// A block's inverse scale and half its largest integer magnitude sum, from its last bytes.
#[inline(always)]
fn block_bounds(block: &[i8]) -> [f64; 2] {
    let (bytes, _) = pulp::as_arrays::<BOUND, i8>(&block[block.len() - 2 * BOUND..]);
    [pulp::cast(bytes[0]), pulp::cast(bytes[1])]
}

/// The integer sum below which no row of `block` reaches `threshold`.
#[inline(always)]
fn block_floor(block: &[i8], threshold: &Threshold) -> f64 {
    let [inverse, half_l1] = block_bounds(block);
    // Two integers of room for the rounding of this arithmetic.
    threshold.scaled * inverse - threshold.hidden - half_l1 - 2.0
}

/// One scan: the blocks, the query's pairs, and where the blocks that pass go.
struct Scan<'a> {
    data: &'a [i8],
    query: &'a [i32],
    threshold: &'a Threshold,
    passed: &'a mut Vec<Passed>,
}

impl Scan<'_> {
    /// Each block's sums by `sums` (the same on every path: integers), kept where one may
    /// reach the threshold. Inlined into each path's `call`, so compiled with its features.
    #[inline(always)]
    fn run(self, mut sums: impl FnMut(&[i8], &[i32]) -> [i32; BLOCK]) {
        let stride = self.query.len() * 2 * BLOCK + 2 * BOUND;
        for (b, block) in self.data.chunks_exact(stride).enumerate() {
            let sums = sums(block, self.query);
            let max = sums.iter().copied().max().unwrap_or(i32::MIN);
            if !below(max, block_floor(block, self.threshold)) {
                self.passed.push(Passed { block: b, sums });
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
struct V4Scan<'a> {
    simd: pulp::x86::V4,
    scan: Scan<'a>,
}

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for V4Scan<'_> {
    type Output = ();

    /// A block's 16 rows are one vector of 16 sums; each pair of dimensions one sign
    /// extension and one multiply-add.
    #[inline(always)]
    fn call(self) {
        use pulp::Simd;
        let simd = self.simd;
        self.scan.run(|block, query| {
            let mut acc = simd.splat_i32s(0);
            for (pair, &q) in pulp::as_arrays::<32, i8>(block).0.iter().zip(query) {
                let x = simd.convert_i8x32_to_i16x32(pulp::cast(*pair));
                let q: pulp::i16x32 = pulp::cast(simd.splat_i32s(q));
                acc = simd.add_i32s(acc, simd.multiply_wrapping_add_adjacent_i16x32(x, q));
            }
            pulp::cast(acc)
        });
    }
}

#[cfg(target_arch = "x86_64")]
struct V3Scan<'a> {
    simd: pulp::x86::V3,
    scan: Scan<'a>,
}

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for V3Scan<'_> {
    type Output = ();

    /// A block is two vectors of 8 sums (rows 0-7 from the first half of each pair's bytes).
    #[inline(always)]
    fn call(self) {
        use pulp::Simd;
        let simd = self.simd;
        self.scan.run(|block, query| {
            let (mut lo, mut hi) = (simd.splat_i32s(0), simd.splat_i32s(0));
            for (pair, &q) in pulp::as_arrays::<32, i8>(block).0.iter().zip(query) {
                let q: pulp::i16x16 = pulp::cast(simd.splat_i32s(q));
                let [a, b]: [[i8; 16]; 2] = pulp::cast(*pair);
                let (a, b) = (simd.convert_i8x16_to_i16x16(pulp::cast(a)), simd.convert_i8x16_to_i16x16(pulp::cast(b)));
                lo = simd.add_i32s(lo, simd.multiply_wrapping_add_adjacent_i16x16(a, q));
                hi = simd.add_i32s(hi, simd.multiply_wrapping_add_adjacent_i16x16(b, q));
            }
            pulp::cast([pulp::cast::<_, [i32; 8]>(lo), pulp::cast(hi)])
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::blocks::similarity as sim;
    use super::*;
    use rand::RngExt;
    use rand_distr::StandardNormal;
    use tender_agents::streams::Stream;

    fn norm(v: &[f32]) -> f64 {
        v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
    }

    proptest::proptest! {
        /// No row whose similarity reaches a threshold is ruled out: at its own similarity as the
        /// threshold, every row's integer sum is at least its block's threshold; and the vector
        /// sums are the scalar ones.
        #[test]
        fn no_row_that_reaches_the_threshold_is_ruled_out(
            seed in 0u64..10_000,
            dim in 1usize..40,
            rows in 1usize..70,
            spread in 0.01f64..100.0,
        ) {
            let mut rng = Stream::named("test/quantized").rng(seed, &[]);
            let mut normal = |scale: f64| (scale * rng.sample::<f64, _>(StandardNormal)) as f32;
            let mut q = Quantized::new(dim);
            for i in 0..rows {
                // Norms spread over orders of magnitude within a block, some rows zero.
                let scale = if i % 11 == 5 { 0.0 } else { spread * f64::from(1 + (i % 5) as u32 * 7) };
                let row: Vec<f32> = (0..dim).map(|_| normal(scale)).collect();
                q.push(&row);
            }
            let max_norm = (0..rows).map(|i| norm(q.row(i))).fold(0.0, f64::max);
            let slack = 4.0 * (dim as f64 + 2.0) * f64::from(f32::EPSILON);
            for _ in 0..10 {
                let query: Vec<f32> = (0..dim).map(|_| normal(1.0)).collect();
                let mut quantized = QuantizedQuery::default();
                quantized.set(&query);
                // Every block's sums, by the vectors and without.
                let (mut passed, mut plain) = (Vec::new(), Vec::new());
                q.scan_into(&quantized, &Threshold::NONE, &mut passed);
                Scan { data: &q.data, query: &quantized.pairs, threshold: &Threshold::NONE, passed: &mut plain }.run(scalar_sums);
                let sums: Vec<i32> = passed.iter().flat_map(|p| p.sums).collect();
                proptest::prop_assert_eq!(&sums, &plain.iter().flat_map(|p| p.sums).collect::<Vec<_>>());
                proptest::prop_assert_eq!(sums.len(), rows.div_ceil(BLOCK) * BLOCK);
                for (i, &sum) in sums.iter().enumerate().take(rows) {
                    let tau = f64::from(sim(&query, q.row(i)));
                    let threshold = Threshold::new(&quantized, tau, norm(&query), max_norm, slack);
                    let t = q.floor(i / BLOCK, &threshold);
                    proptest::prop_assert!(!below(sum, t), "row {i}: sum {sum} < floor {t} at {tau}");
                    q.scan_into(&quantized, &threshold, &mut passed);
                    proptest::prop_assert!(passed.iter().any(|p| p.block == i / BLOCK), "row {i}'s block passed over at {tau}");
                }
            }
        }
    }

    #[test]
    fn the_bound_rules_out_most_rows_of_unit_embeddings() {
        let mut rng = Stream::named("test/quantized-tight").rng(1, &[]);
        let mut normal = || rng.sample::<f64, _>(StandardNormal) as f32;
        let dim = 16;
        let mut q = Quantized::new(dim);
        for _ in 0..1024 {
            let row: Vec<f32> = (0..dim).map(|_| normal()).collect();
            let n = norm(&row) as f32;
            q.push(&row.iter().map(|x| x / n).collect::<Vec<_>>());
        }
        let query: Vec<f32> = q.row(7).to_vec();
        let mut quantized = QuantizedQuery::default();
        quantized.set(&query);
        let mut passed = Vec::new();
        q.scan_into(&quantized, &Threshold::NONE, &mut passed);
        let sums: Vec<i32> = passed.iter().flat_map(|p| p.sums).collect();
        // At a threshold of 0.5, only rows near it pass (about 2% are above 0.5).
        let threshold = Threshold::new(&quantized, 0.5, 1.0, 1.0, 1e-5);
        let passed = (0..1024).filter(|&i| !below(sums[i], q.floor(i / BLOCK, &threshold))).count();
        let above = (0..1024).filter(|&i| sim(&query, q.row(i)) >= 0.5).count();
        assert!(passed >= above && passed <= above + 20, "{passed} passed, {above} above");
    }
}
