//! IEEE 754 binary32 and binary64 arithmetic in software, bit-exact to
//! what a RISC-V hart computes (unprivileged spec, chapters "F" and "D"):
//! every rounding mode, the five exception flags, tininess detected after
//! rounding, the canonical NaN for every NaN result, and `fcvt`'s saturating
//! conversions to integers.
//!
//! Why in software: the host's `f64` arithmetic rounds to nearest only and
//! does not report flags, and the result must not depend on the host. The
//! design follows Berkeley SoftFloat 3 (the RISC-V reference model's float
//! library): unpack, compute the exact result or enough of it plus a
//! *sticky* bit, then round and pack in one place (`round_pack`, a port of
//! SoftFloat's `softfloat_roundPackToF64`). The crates that wrap SoftFloat
//! build its C code with CMake on x86-64 Linux only, so this is Rust, using
//! `u128` for the intermediate results, which keeps every operation a
//! few lines of integer arithmetic.
//!
//! Values are raw bits in a `u64` (a single in the low 32 bits); the format
//! is a type parameter (`F32`, `F64`). Every operation returns the result
//! bits and ORs the exception flags it raised into a `&mut u8`, laid out as
//! RISC-V's `fflags` (`NX`..`NV`).
//!
//! ## The internal form
//!
//! A finite non-zero operand unpacks to `(sign, exp, sig)` with the leading
//! one of `sig` at bit 62, and value `sig * 2^(exp - BIAS - 61)`; for a
//! normal number `exp` is its biased exponent minus one, a subnormal is
//! normalised and gets a smaller `exp`. Wide intermediate results are
//! `u128` values `s` worth `s * 2^(exp - BIAS - 126)` (`pack_wide`
//! normalises them). Low bits shifted out are "jammed" into bit 0, which is
//! always far below the rounding position, so rounding sees whether
//! anything non-zero was lost.

/// Inexact (`NX`), bit 0 of `fflags`.
pub const NX: u8 = 1;
/// Underflow (`UF`).
pub const UF: u8 = 2;
/// Overflow (`OF`).
pub const OF: u8 = 4;
/// Division by zero (`DZ`).
pub const DZ: u8 = 8;
/// Invalid operation (`NV`).
pub const NV: u8 = 16;

/// A rounding mode (the `rm` field and `frm`, spec table "Rounding mode
/// encoding"; 5 and 6 are reserved and 7 is "dynamic", resolved before
/// any arithmetic).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rounding {
    /// To nearest, ties to even.
    NearestEven,
    /// Towards zero.
    TowardZero,
    /// Down, towards -infinity.
    Down,
    /// Up, towards +infinity.
    Up,
    /// To nearest, ties away from zero.
    NearestMaxMagnitude,
}

impl Rounding {
    /// The mode of an `rm`/`frm` value; `None` for 5..=7.
    pub fn from_bits(bits: u64) -> Option<Rounding> {
        Some(match bits {
            0 => Rounding::NearestEven,
            1 => Rounding::TowardZero,
            2 => Rounding::Down,
            3 => Rounding::Up,
            4 => Rounding::NearestMaxMagnitude,
            _ => return None,
        })
    }
}

/// A binary interchange format: its field widths, and the host's type of
/// the same format for the fast path (`fast_add`, `fast_mul`).
pub trait Format {
    /// The host's `f32` or `f64`.
    type Host: Copy
        + PartialEq
        + std::ops::Add<Output = Self::Host>
        + std::ops::Sub<Output = Self::Host>
        + std::ops::Mul<Output = Self::Host>
        + std::ops::Div<Output = Self::Host>;
    const HOST_ZERO: Self::Host;
    fn to_host(bits: u64) -> Self::Host;
    fn from_host(v: Self::Host) -> u64;
    /// The host's fused multiply-add (`mul_add`, correctly rounded).
    fn host_fma(a: Self::Host, b: Self::Host, c: Self::Host) -> Self::Host;
    /// The host's square root (correctly rounded, as IEEE 754 requires).
    fn host_sqrt(a: Self::Host) -> Self::Host;
    /// Fraction bits (23 or 52).
    const FRAC: u32;
    /// Exponent bits (8 or 11).
    const EXP: u32;
    /// Exponent bias.
    const BIAS: i32 = (1 << (Self::EXP - 1)) - 1;
    /// The all-ones exponent field (infinities and NaNs).
    const EXP_MAX: i32 = (1 << Self::EXP) - 1;
    /// The sign bit.
    const SIGN: u64 = 1 << (Self::FRAC + Self::EXP);
    const FRAC_MASK: u64 = (1 << Self::FRAC) - 1;
    /// RISC-V's canonical NaN: positive, quiet, no payload.
    const CANONICAL_NAN: u64 = ((Self::EXP_MAX as u64) << Self::FRAC) | (1 << (Self::FRAC - 1));
    /// Bits below the significand in the internal form (leading one at 62).
    const ROUND_BITS: u32 = 62 - Self::FRAC;
}

/// binary32 (`float`, the `.s` instructions).
pub struct F32;
/// binary64 (`double`, the `.d` instructions).
pub struct F64;

impl Format for F32 {
    type Host = f32;
    const HOST_ZERO: f32 = 0.0;
    const FRAC: u32 = 23;
    const EXP: u32 = 8;
    fn to_host(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
    fn from_host(v: f32) -> u64 {
        u64::from(v.to_bits())
    }
    fn host_fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    fn host_sqrt(a: f32) -> f32 {
        a.sqrt()
    }
}

impl Format for F64 {
    type Host = f64;
    const HOST_ZERO: f64 = 0.0;
    const FRAC: u32 = 52;
    const EXP: u32 = 11;
    fn to_host(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    fn from_host(v: f64) -> u64 {
        v.to_bits()
    }
    fn host_fma(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
    fn host_sqrt(a: f64) -> f64 {
        a.sqrt()
    }
}

// ---- the fast path ------------------------------------------------------------
//
// Rounding to nearest, ties to even, is what the host's `+`, `-` and `*`
// do (IEEE 754 requires it, and Rust's `f32`/`f64` are IEEE 754 on every
// host), and it is the mode nearly every program runs in. So for ordinary
// operands the host computes the result; only the flags need care, and
// they are derived exactly:
//
// - `a + b` with both magnitudes below 2^(EMAX-1): no overflow anywhere, so
//   the rounding error `e = (a + b) - r` is itself a float that Knuth's
//   TwoSum computes exactly (six additions); NX iff `e != 0`. A sum cannot
//   underflow: a sum below the smallest normal is a multiple of the
//   smallest subnormal, so exact.
// - `a * b` of two normal numbers whose rounded product `r` is normal and
//   at least twice the smallest normal: no OF (r is finite), no UF (the
//   exact product is above the smallest normal, so not tiny), and NX iff
//   the exact product of the significands, an integer of at most 2p bits,
//   has more than p significant bits.
// - `±(a * b) ± c` of three normal numbers, by the host's fused
//   multiply-add (IEEE 754 specifies it exactly), with `r` as for `*`.
//   Write `a*b`, `c` and `r` each as an odd integer times a power of two.
//   If one of the three has the lowest power alone, `±a*b ± c - r` is an
//   odd multiple of that power, not zero: NX. Otherwise, scaled to that
//   power, they are integers that fit in an `i128` unless their
//   exponents lie far apart (then the software path), and NX iff
//   `±a*b ± c - r != 0` there.
//
// Once NX is among the flags a program has accrued (the callers pass the
// accrued flags in: exec_fp.rs), whether this operation is inexact too
// changes nothing, and that was most of the work above: then the host's
// result of ordinary operands is the whole answer. This also covers `/`
// and `sqrt`, whose NX would be costly to derive: `a / b` of two normal
// numbers whose quotient is normal and at least twice the smallest normal
// raises nothing but NX (no DZ, NV, OF or UF, by the argument for `*`),
// and `sqrt` of a positive normal number nothing but NX. A program that
// computes with inexact values sets NX on its first rounding and keeps it
// (only a CSR write clears it), so nearly all of its operations take this
// path.
//
// Everything else (NaNs, infinities, subnormal products, values near the
// ends of the range, other rounding modes) takes the software path. The
// unit tests check that both paths agree on every operand they try, on
// the host they run on (a host whose `mul_add` were not correctly rounded
// would fail them).

/// The biased exponent field.
fn exponent_field<F: Format>(bits: u64) -> i32 {
    ((bits >> F::FRAC) as i32) & F::EXP_MAX
}

/// `a + b` in round-to-nearest-even by the host, when provably exact to
/// the software path (see above).
#[inline(always)]
fn fast_add<F: Format>(a: u64, b: u64, flags: &mut u8) -> Option<u64> {
    if exponent_field::<F>(a) >= F::EXP_MAX - 2 || exponent_field::<F>(b) >= F::EXP_MAX - 2 {
        return None;
    }
    let (x, y) = (F::to_host(a), F::to_host(b));
    let r = x + y;
    if *flags & NX != 0 {
        return Some(F::from_host(r));
    }
    // TwoSum: r + err == x + y exactly.
    let y_part = r - x;
    let x_part = r - y_part;
    let err = (x - x_part) + (y - y_part);
    if err != F::HOST_ZERO {
        *flags |= NX;
    }
    Some(F::from_host(r))
}

/// `a * b` in round-to-nearest-even by the host, when provably exact to
/// the software path (see above).
#[inline(always)]
fn fast_mul<F: Format>(a: u64, b: u64, flags: &mut u8) -> Option<u64> {
    let (ea, eb) = (exponent_field::<F>(a), exponent_field::<F>(b));
    if ea == 0 || ea == F::EXP_MAX || eb == 0 || eb == F::EXP_MAX {
        return None;
    }
    let r = F::from_host(F::to_host(a) * F::to_host(b));
    let er = exponent_field::<F>(r);
    if er < 2 || er == F::EXP_MAX {
        return None;
    }
    if *flags & NX != 0 {
        return Some(r);
    }
    let hidden = 1u64 << F::FRAC;
    let p = u128::from((a & F::FRAC_MASK) | hidden) * u128::from((b & F::FRAC_MASK) | hidden);
    let significant = 128 - p.leading_zeros() - p.trailing_zeros();
    if significant > F::FRAC + 1 {
        *flags |= NX;
    }
    Some(r)
}

/// What an operand is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Zero,
    Finite { exp: i32, sig: u64 },
    Infinity,
    QuietNan,
    SignalingNan,
}

fn sign_of<F: Format>(bits: u64) -> bool {
    bits & F::SIGN != 0
}

fn classify<F: Format>(bits: u64) -> Class {
    let exp = ((bits >> F::FRAC) as i32) & F::EXP_MAX;
    let frac = bits & F::FRAC_MASK;
    if exp == F::EXP_MAX {
        return match frac {
            0 => Class::Infinity,
            f if f >> (F::FRAC - 1) != 0 => Class::QuietNan,
            _ => Class::SignalingNan,
        };
    }
    if exp == 0 {
        if frac == 0 {
            return Class::Zero;
        }
        // Subnormal: normalise so that the leading one is at bit 62.
        let sig = frac << F::ROUND_BITS;
        let shift = sig.leading_zeros() - 1;
        return Class::Finite {
            exp: -(shift as i32),
            sig: sig << shift,
        };
    }
    Class::Finite {
        exp: exp - 1,
        sig: (frac | (1 << F::FRAC)) << F::ROUND_BITS,
    }
}

fn is_nan(c: Class) -> bool {
    matches!(c, Class::QuietNan | Class::SignalingNan)
}

fn is_signaling(c: Class) -> bool {
    c == Class::SignalingNan
}

fn pack<F: Format>(sign: bool, exp: i32, sig: u64) -> u64 {
    // `sig`'s leading one (if any) lands on the exponent field's lowest
    // bit and adds one to `exp`: SoftFloat's `packToF64UI`.
    (u64::from(sign) << (F::FRAC + F::EXP))
        .wrapping_add((exp as u64) << F::FRAC)
        .wrapping_add(sig)
}

fn infinity<F: Format>(sign: bool) -> u64 {
    pack::<F>(sign, F::EXP_MAX, 0)
}

fn zero<F: Format>(sign: bool) -> u64 {
    pack::<F>(sign, 0, 0)
}

/// `v >> dist`, with every bit shifted out ORed into bit 0.
fn shift_right_jam64(v: u64, dist: u32) -> u64 {
    if dist == 0 {
        v
    } else if dist < 64 {
        (v >> dist) | u64::from(v << (64 - dist) != 0)
    } else {
        u64::from(v != 0)
    }
}

/// `v >> dist` for `u128`, jamming as `shift_right_jam64`.
fn shift_right_jam128(v: u128, dist: u32) -> u128 {
    if dist == 0 {
        v
    } else if dist < 128 {
        (v >> dist) | u128::from(v << (128 - dist) != 0)
    } else {
        u128::from(v != 0)
    }
}

/// Rounds `sig * 2^(exp - BIAS - 61)` (leading one at bit 62, or a smaller
/// `sig` when `exp` is already at the bottom) to format `F` in mode `rm`,
/// raising NX, UF (tiny after rounding and inexact) and OF. A port of
/// Berkeley SoftFloat's `softfloat_roundPackToF64` to both formats.
fn round_pack<F: Format>(
    sign: bool,
    mut exp: i32,
    mut sig: u64,
    rm: Rounding,
    flags: &mut u8,
) -> u64 {
    let mask = (1u64 << F::ROUND_BITS) - 1;
    let half = 1u64 << (F::ROUND_BITS - 1);
    let increment = match rm {
        Rounding::NearestEven | Rounding::NearestMaxMagnitude => half,
        Rounding::TowardZero => 0,
        Rounding::Down if sign => mask,
        Rounding::Up if !sign => mask,
        Rounding::Down | Rounding::Up => 0,
    };
    let mut round_bits = sig & mask;
    // `exp` outside 0..EXP_MAX-2: subnormal, or possibly too large.
    if exp < 0 || exp >= F::EXP_MAX - 2 {
        if exp < 0 {
            // Tiny "after rounding": the result rounded to the format's
            // precision, with an unbounded exponent, is below the smallest
            // normal number (spec 11.2: RISC-V detects tininess after
            // rounding).
            let tiny = exp < -1 || sig + increment < 1 << 63;
            sig = shift_right_jam64(sig, exp.unsigned_abs());
            exp = 0;
            round_bits = sig & mask;
            if tiny && round_bits != 0 {
                *flags |= UF;
            }
        } else if exp > F::EXP_MAX - 2 || sig + increment >= 1 << 63 {
            *flags |= OF | NX;
            // Infinity, or the largest finite number when rounding away
            // from it (the infinity's bits minus one).
            return infinity::<F>(sign) - u64::from(increment == 0);
        }
    }
    sig = (sig + increment) >> F::ROUND_BITS;
    if round_bits != 0 {
        *flags |= NX;
    }
    if rm == Rounding::NearestEven && round_bits == half {
        // A tie: to the even neighbour.
        sig &= !1;
    }
    if sig == 0 {
        exp = 0;
    }
    pack::<F>(sign, exp, sig)
}

/// Rounds a wide intermediate `s * 2^(exp - BIAS - 126)` (non-zero).
fn pack_wide<F: Format>(sign: bool, exp: i32, s: u128, rm: Rounding, flags: &mut u8) -> u64 {
    let lz = s.leading_zeros();
    let n = s << lz;
    // The top 63 bits, leading one at 62, the rest jammed.
    let sig = (n >> 65) as u64 | u64::from(n & ((1 << 65) - 1) != 0);
    round_pack::<F>(sign, exp - lz as i32, sig, rm, flags)
}

/// The NaN result of an operation with a NaN operand: canonical, and NV if
/// any operand was signalling.
fn nan_result<F: Format>(operands: &[Class], flags: &mut u8) -> u64 {
    if operands.iter().any(|&c| is_signaling(c)) {
        *flags |= NV;
    }
    F::CANONICAL_NAN
}

fn invalid<F: Format>(flags: &mut u8) -> u64 {
    *flags |= NV;
    F::CANONICAL_NAN
}

/// The sign of an exact zero sum of operands of opposite signs: +0, but
/// -0 when rounding down (IEEE 754 6.3).
fn exact_zero_sign(rm: Rounding) -> bool {
    rm == Rounding::Down
}

/// `a + b` of two finite non-zero wide values (leading one at bit 126).
fn add_wide<F: Format>(
    a: (bool, i32, u128),
    b: (bool, i32, u128),
    rm: Rounding,
    flags: &mut u8,
) -> u64 {
    let (big, small) = if (a.1, a.2) >= (b.1, b.2) {
        (a, b)
    } else {
        (b, a)
    };
    let (sign, exp, s_big) = big;
    let dist = (exp - small.1) as u32;
    let s_small = shift_right_jam128(small.2, dist);
    let s = if big.0 == small.0 {
        s_big + s_small
    } else {
        s_big - s_small
    };
    if s == 0 {
        return zero::<F>(exact_zero_sign(rm));
    }
    pack_wide::<F>(sign, exp, s, rm, flags)
}

/// A finite non-zero operand as a wide value: leading one at bit 126.
fn widen(sign: bool, exp: i32, sig: u64) -> (bool, i32, u128) {
    (sign, exp + 1, u128::from(sig) << 64)
}

/// The significand of a normal number as an integer, and the exponent
/// that makes it the number's magnitude: `|v| = sig * 2^exp`.
fn integer_form<F: Format>(bits: u64) -> (u64, i32) {
    (
        (bits & F::FRAC_MASK) | (1 << F::FRAC),
        exponent_field::<F>(bits) - F::BIAS - F::FRAC as i32,
    )
}

/// `±(a * b) ± c` in round-to-nearest-even by the host's fused
/// multiply-add, when provably exact to the software path (see above).
#[inline(always)]
fn fast_fused<F: Format>(
    a: u64,
    b: u64,
    c: u64,
    (np, nc): FusedSigns,
    flags: &mut u8,
) -> Option<u64> {
    let normal = |v: u64| (1..F::EXP_MAX).contains(&exponent_field::<F>(v));
    if !(normal(a) && normal(b) && normal(c)) {
        return None;
    }
    let a = if np { a ^ F::SIGN } else { a };
    let c = if nc { c ^ F::SIGN } else { c };
    let r = F::from_host(F::host_fma(F::to_host(a), F::to_host(b), F::to_host(c)));
    let er = exponent_field::<F>(r);
    if er < 2 || er == F::EXP_MAX {
        return None;
    }
    if *flags & NX != 0 {
        return Some(r);
    }
    let ((ma, ea), (mb, eb)) = (integer_form::<F>(a), integer_form::<F>(b));
    let (mc, ec) = integer_form::<F>(c);
    let (mr, er) = integer_form::<F>(r);
    // Each term as an odd integer times a power of two.
    let odd = |m: u128, e: i32| (m >> m.trailing_zeros(), e + m.trailing_zeros() as i32);
    let terms = [
        (
            odd(u128::from(ma) * u128::from(mb), ea + eb),
            sign_of::<F>(a) != sign_of::<F>(b),
        ),
        (odd(u128::from(mc), ec), sign_of::<F>(c)),
        // The result on the other side of `product + addend - result == 0`.
        (odd(u128::from(mr), er), !sign_of::<F>(r)),
    ];
    let mut exps = [terms[0].0 .1, terms[1].0 .1, terms[2].0 .1];
    exps.sort_unstable();
    if exps[0] < exps[1] {
        // One term alone has the lowest set bit: the sum cannot be zero.
        *flags |= NX;
        return Some(r);
    }
    // Scaled to that bit they are integers; if they fit in 126 bits, sum.
    let mut sum = 0i128;
    for ((m, e), negative) in terms {
        let shift = (e - exps[0]) as u32;
        if 128 - m.leading_zeros() + shift > 126 {
            return None;
        }
        let v = (m << shift) as i128;
        sum += if negative { -v } else { v };
    }
    if sum != 0 {
        *flags |= NX;
    }
    Some(r)
}

/// `a + b`.
pub fn add<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    if rm == Rounding::NearestEven {
        if let Some(r) = fast_add::<F>(a, b, flags) {
            return r;
        }
    }
    soft_add::<F>(a, b, rm, flags)
}

/// `a + b` in software, for every operand and mode.
fn soft_add<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    let (sa, sb) = (sign_of::<F>(a), sign_of::<F>(b));
    match (classify::<F>(a), classify::<F>(b)) {
        (ca, cb) if is_nan(ca) || is_nan(cb) => nan_result::<F>(&[ca, cb], flags),
        (Class::Infinity, Class::Infinity) if sa != sb => invalid::<F>(flags),
        (Class::Infinity, _) => a,
        (_, Class::Infinity) => b,
        (Class::Zero, Class::Zero) if sa == sb => a,
        (Class::Zero, Class::Zero) => zero::<F>(exact_zero_sign(rm)),
        (Class::Zero, _) => b,
        (_, Class::Zero) => a,
        (Class::Finite { exp: ea, sig: ga }, Class::Finite { exp: eb, sig: gb }) => {
            add_wide::<F>(widen(sa, ea, ga), widen(sb, eb, gb), rm, flags)
        }
        _ => F::CANONICAL_NAN,
    }
}

/// `a - b`.
pub fn sub<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    // Negating a NaN changes nothing the result shows: it is canonical.
    add::<F>(a, b ^ F::SIGN, rm, flags)
}

/// The exact product of two finite non-zero operands, as a wide value.
fn product<F: Format>(sign: bool, (ea, ga): (i32, u64), (eb, gb): (i32, u64)) -> (bool, i32, u128) {
    // sig * sig has its leading one at bit 124 or 125; move it to 126.
    let p = u128::from(ga) * u128::from(gb);
    let shift = p.leading_zeros() - 1;
    (sign, ea + eb - F::BIAS + 4 - shift as i32, p << shift)
}

/// `a * b`.
pub fn mul<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    if rm == Rounding::NearestEven {
        if let Some(r) = fast_mul::<F>(a, b, flags) {
            return r;
        }
    }
    soft_mul::<F>(a, b, rm, flags)
}

/// `a * b` in software, for every operand and mode.
fn soft_mul<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    let sign = sign_of::<F>(a) != sign_of::<F>(b);
    match (classify::<F>(a), classify::<F>(b)) {
        (ca, cb) if is_nan(ca) || is_nan(cb) => nan_result::<F>(&[ca, cb], flags),
        (Class::Infinity, Class::Zero) | (Class::Zero, Class::Infinity) => invalid::<F>(flags),
        (Class::Infinity, _) | (_, Class::Infinity) => infinity::<F>(sign),
        (Class::Zero, _) | (_, Class::Zero) => zero::<F>(sign),
        (Class::Finite { exp: ea, sig: ga }, Class::Finite { exp: eb, sig: gb }) => {
            let (sign, exp, p) = product::<F>(sign, (ea, ga), (eb, gb));
            pack_wide::<F>(sign, exp, p, rm, flags)
        }
        _ => F::CANONICAL_NAN,
    }
}

/// `a / b` in round-to-nearest-even by the host, once NX has been raised
/// (see above).
#[inline(always)]
fn fast_div<F: Format>(a: u64, b: u64, flags: &mut u8) -> Option<u64> {
    let normal = |v: u64| (1..F::EXP_MAX).contains(&exponent_field::<F>(v));
    if *flags & NX == 0 || !(normal(a) && normal(b)) {
        return None;
    }
    let r = F::from_host(F::to_host(a) / F::to_host(b));
    let er = exponent_field::<F>(r);
    (2..F::EXP_MAX).contains(&er).then_some(r)
}

/// `a / b`.
pub fn div<F: Format>(a: u64, b: u64, rm: Rounding, flags: &mut u8) -> u64 {
    if rm == Rounding::NearestEven {
        if let Some(r) = fast_div::<F>(a, b, flags) {
            return r;
        }
    }
    let sign = sign_of::<F>(a) != sign_of::<F>(b);
    match (classify::<F>(a), classify::<F>(b)) {
        (ca, cb) if is_nan(ca) || is_nan(cb) => nan_result::<F>(&[ca, cb], flags),
        (Class::Infinity, Class::Infinity) | (Class::Zero, Class::Zero) => invalid::<F>(flags),
        (Class::Infinity, _) => infinity::<F>(sign),
        (_, Class::Infinity) => zero::<F>(sign),
        (Class::Zero, _) => zero::<F>(sign),
        (_, Class::Zero) => {
            *flags |= DZ;
            infinity::<F>(sign)
        }
        (Class::Finite { exp: ea, sig: ga }, Class::Finite { exp: eb, sig: gb }) => {
            // (ga << 64) / gb has 64 or 65 significant bits; a remainder
            // means more non-zero bits follow: the sticky bit.
            let n = u128::from(ga) << 64;
            let d = u128::from(gb);
            let q = n / d;
            let s = q | u128::from(n % d != 0);
            pack_wide::<F>(sign, ea - eb + F::BIAS + 62, s, rm, flags)
        }
        _ => F::CANONICAL_NAN,
    }
}

/// `sqrt(a)`.
pub fn sqrt<F: Format>(a: u64, rm: Rounding, flags: &mut u8) -> u64 {
    // Once NX has been raised, the host's root of a positive normal
    // number (see above).
    let positive_normal = !sign_of::<F>(a) && (1..F::EXP_MAX).contains(&exponent_field::<F>(a));
    if rm == Rounding::NearestEven && *flags & NX != 0 && positive_normal {
        return F::from_host(F::host_sqrt(F::to_host(a)));
    }
    let sign = sign_of::<F>(a);
    match classify::<F>(a) {
        c if is_nan(c) => nan_result::<F>(&[c], flags),
        // sqrt(-0) = -0 (IEEE 754 9.2).
        Class::Zero => a,
        _ if sign => invalid::<F>(flags),
        Class::Infinity => a,
        Class::Finite { exp, sig } => {
            // a = sig * 2^k; with k made even, sqrt(a) = sqrt(m) * 2^(k/2).
            let k = exp - F::BIAS - 61;
            let (m, k) = if k % 2 != 0 {
                (u128::from(sig) << 1, k - 1)
            } else {
                (u128::from(sig), k)
            };
            // 64 more bits under the root give a 64-bit root; a remainder
            // means the root is not exact: the sticky bit.
            let n = m << 64;
            let root = n.isqrt();
            let s = root | u128::from(root * root != n);
            pack_wide::<F>(false, k / 2 - 32 + F::BIAS + 126, s, rm, flags)
        }
        _ => F::CANONICAL_NAN,
    }
}

/// Which fused multiply-add: `(negate product, negate addend)`. fmadd is
/// `a*b + c`, fmsub `a*b - c`, fnmsub `-(a*b) + c`, fnmadd `-(a*b) - c`.
pub type FusedSigns = (bool, bool);

/// `±(a * b) ± c` with one rounding.
pub fn fused_mul_add<F: Format>(
    a: u64,
    b: u64,
    c: u64,
    signs: FusedSigns,
    rm: Rounding,
    flags: &mut u8,
) -> u64 {
    if rm == Rounding::NearestEven {
        if let Some(r) = fast_fused::<F>(a, b, c, signs, flags) {
            return r;
        }
    }
    soft_fused_mul_add::<F>(a, b, c, signs, rm, flags)
}

/// `±(a * b) ± c` in software, for every operand and mode.
fn soft_fused_mul_add<F: Format>(
    a: u64,
    b: u64,
    c: u64,
    (negate_product, negate_addend): FusedSigns,
    rm: Rounding,
    flags: &mut u8,
) -> u64 {
    let (ca, cb, cc) = (classify::<F>(a), classify::<F>(b), classify::<F>(c));
    let sign_p = (sign_of::<F>(a) != sign_of::<F>(b)) != negate_product;
    let sign_c = sign_of::<F>(c) != negate_addend;
    let inf_times_zero = matches!(
        (ca, cb),
        (Class::Infinity, Class::Zero) | (Class::Zero, Class::Infinity)
    );
    if is_nan(ca) || is_nan(cb) || is_nan(cc) {
        // RISC-V raises NV for infinity * zero even when c is a quiet NaN
        // (spec 11.6, "fused multiply-add").
        if inf_times_zero {
            *flags |= NV;
        }
        return nan_result::<F>(&[ca, cb, cc], flags);
    }
    if inf_times_zero {
        return invalid::<F>(flags);
    }
    let product_infinite = ca == Class::Infinity || cb == Class::Infinity;
    match (product_infinite, cc) {
        (true, Class::Infinity) if sign_p != sign_c => return invalid::<F>(flags),
        (true, _) => return infinity::<F>(sign_p),
        (false, Class::Infinity) => return infinity::<F>(sign_c),
        _ => {}
    }
    let (Class::Finite { exp: ea, sig: ga }, Class::Finite { exp: eb, sig: gb }) = (ca, cb) else {
        // The product is an exact zero: the sum is c, or a zero.
        return match cc {
            Class::Zero if sign_p == sign_c => zero::<F>(sign_p),
            Class::Zero => zero::<F>(exact_zero_sign(rm)),
            _ => c ^ if negate_addend { F::SIGN } else { 0 },
        };
    };
    let p = product::<F>(sign_p, (ea, ga), (eb, gb));
    match cc {
        Class::Finite { exp: ec, sig: gc } => add_wide::<F>(p, widen(sign_c, ec, gc), rm, flags),
        // c is zero: the product, rounded once.
        _ => pack_wide::<F>(p.0, p.1, p.2, rm, flags),
    }
}

/// `a == b` (feq: quiet, NV only for a signalling NaN).
pub fn eq<F: Format>(a: u64, b: u64, flags: &mut u8) -> bool {
    let (ca, cb) = (classify::<F>(a), classify::<F>(b));
    if is_nan(ca) || is_nan(cb) {
        nan_result::<F>(&[ca, cb], flags);
        return false;
    }
    a == b || (ca == Class::Zero && cb == Class::Zero)
}

/// `a < b` (flt: signalling, NV for any NaN) or, with `or_equal`, `a <= b`
/// (fle).
pub fn less<F: Format>(a: u64, b: u64, or_equal: bool, flags: &mut u8) -> bool {
    let (ca, cb) = (classify::<F>(a), classify::<F>(b));
    if is_nan(ca) || is_nan(cb) {
        *flags |= NV;
        return false;
    }
    if ca == Class::Zero && cb == Class::Zero {
        return or_equal;
    }
    match (sign_of::<F>(a), sign_of::<F>(b)) {
        (true, false) => true,
        (false, true) => false,
        // Same sign: the magnitudes order as unsigned integers, reversed
        // for negative numbers.
        (false, false) => a < b || (or_equal && a == b),
        (true, true) => a > b || (or_equal && a == b),
    }
}

/// fmin (`max == false`) and fmax: IEEE 754-2019 minimumNumber and
/// maximumNumber, as RISC-V defines them since version 2.2 of F: a NaN
/// operand is ignored (both NaN: the canonical NaN), a signalling one
/// raises NV, and -0 is smaller than +0.
pub fn min_max<F: Format>(a: u64, b: u64, max: bool, flags: &mut u8) -> u64 {
    let (ca, cb) = (classify::<F>(a), classify::<F>(b));
    if is_signaling(ca) || is_signaling(cb) {
        *flags |= NV;
    }
    match (is_nan(ca), is_nan(cb)) {
        (true, true) => return F::CANONICAL_NAN,
        (true, false) => return b,
        (false, true) => return a,
        _ => {}
    }
    let mut ignored = 0;
    let a_first = if ca == Class::Zero && cb == Class::Zero {
        // -0 < +0
        sign_of::<F>(a)
    } else {
        less::<F>(a, b, false, &mut ignored)
    };
    if a_first != max {
        a
    } else {
        b
    }
}

/// fclass: a one-hot mask of what `a` is (spec table "Format of result of
/// FCLASS instruction").
pub fn class<F: Format>(a: u64) -> u64 {
    let negative = sign_of::<F>(a);
    let bit = match classify::<F>(a) {
        Class::Infinity => {
            if negative {
                0
            } else {
                7
            }
        }
        Class::Finite { .. } => {
            let subnormal = (a >> F::FRAC) & (F::EXP_MAX as u64) == 0;
            match (negative, subnormal) {
                (true, false) => 1,
                (true, true) => 2,
                (false, true) => 5,
                (false, false) => 6,
            }
        }
        Class::Zero => {
            if negative {
                3
            } else {
                4
            }
        }
        Class::SignalingNan => 8,
        Class::QuietNan => 9,
    };
    1 << bit
}

/// An integer type `fcvt` converts to: its range, and what an out-of-range
/// value or a NaN gives (spec table "Domains of float-to-integer
/// conversions").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntType {
    /// `.w`: i32
    I32,
    /// `.wu`: u32
    U32,
    /// `.l`: i64
    I64,
    /// `.lu`: u64
    U64,
}

impl IntType {
    /// (most negative, most positive), as i128.
    fn range(self) -> (i128, i128) {
        match self {
            IntType::I32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
            IntType::U32 => (0, i128::from(u32::MAX)),
            IntType::I64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
            IntType::U64 => (0, i128::from(u64::MAX)),
        }
    }

    /// The value in a 64-bit register: 32-bit results are sign-extended,
    /// the unsigned `.wu` ones too (RV64, spec 11.7).
    fn to_register(self, v: i128) -> u64 {
        match self {
            IntType::I32 | IntType::U32 => v as u32 as i32 as i64 as u64,
            IntType::I64 | IntType::U64 => v as u64,
        }
    }
}

/// fcvt to an integer: rounds `a` by `rm`; out of range saturates with NV
/// (a NaN counts as +infinity), else NX if it was not an integer.
pub fn to_int<F: Format>(a: u64, to: IntType, rm: Rounding, flags: &mut u8) -> u64 {
    let (min, max) = to.range();
    let negative = sign_of::<F>(a);
    let saturate = |negative: bool, flags: &mut u8| {
        *flags |= NV;
        to.to_register(if negative { min } else { max })
    };
    let (exp, sig) = match classify::<F>(a) {
        Class::Zero => return 0,
        Class::Infinity => return saturate(negative, flags),
        Class::QuietNan | Class::SignalingNan => return saturate(false, flags),
        Class::Finite { exp, sig } => (exp, sig),
    };
    // The magnitude as a fixed-point number with 64 fraction bits:
    // sig * 2^(exp - BIAS - 61 + 64).
    let shift = exp - F::BIAS + 3;
    if shift > 65 {
        // At least 2^64 (sig is at least 2^62): out of every range, and
        // too wide for the fixed-point form.
        return saturate(negative, flags);
    }
    let fixed = if shift >= 0 {
        u128::from(sig) << shift
    } else {
        shift_right_jam128(u128::from(sig), shift.unsigned_abs())
    };
    let (int, frac) = (fixed >> 64, fixed as u64);
    let half = 1u64 << 63;
    let up = match rm {
        Rounding::NearestEven => frac > half || (frac == half && int & 1 == 1),
        Rounding::NearestMaxMagnitude => frac >= half,
        Rounding::TowardZero => false,
        Rounding::Down => negative && frac != 0,
        Rounding::Up => !negative && frac != 0,
    };
    let magnitude = (int + u128::from(up)) as i128;
    let value = if negative { -magnitude } else { magnitude };
    if value < min || value > max {
        return saturate(negative, flags);
    }
    if frac != 0 {
        *flags |= NX;
    }
    to.to_register(value)
}

/// fcvt from an integer register value `x` of type `from` (only its low
/// 32 bits for `.w`/`.wu`), rounded by `rm`.
pub fn from_int<F: Format>(x: u64, from: IntType, rm: Rounding, flags: &mut u8) -> u64 {
    let (negative, magnitude) = match from {
        IntType::I32 => {
            let v = x as i32;
            (v < 0, u64::from(v.unsigned_abs()))
        }
        IntType::U32 => (false, u64::from(x as u32)),
        IntType::I64 => {
            let v = x as i64;
            (v < 0, v.unsigned_abs())
        }
        IntType::U64 => (false, x),
    };
    if magnitude == 0 {
        return zero::<F>(false);
    }
    pack_wide::<F>(negative, F::BIAS + 126, u128::from(magnitude), rm, flags)
}

/// fcvt between formats: `From` bits to `To` bits, rounded by `rm` (exact
/// when widening).
pub fn convert<From: Format, To: Format>(a: u64, rm: Rounding, flags: &mut u8) -> u64 {
    let negative = sign_of::<From>(a);
    match classify::<From>(a) {
        c if is_nan(c) => nan_result::<To>(&[c], flags),
        Class::Infinity => infinity::<To>(negative),
        Class::Zero => zero::<To>(negative),
        Class::Finite { exp, sig } => {
            // The internal form is the same for both formats (leading one
            // at bit 62); only the bias differs.
            round_pack::<To>(negative, exp - From::BIAS + To::BIAS, sig, rm, flags)
        }
        _ => To::CANONICAL_NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RNE: Rounding = Rounding::NearestEven;

    fn d(v: f64) -> u64 {
        v.to_bits()
    }

    fn s(v: f32) -> u64 {
        u64::from(v.to_bits())
    }

    /// Values whose nearest-even results the host computes exactly.
    const DOUBLES: &[f64] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        3.0,
        1e300,
        -1e300,
        1e-300,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        2.225073858507201e-308,
        1.7976931348623157e308,
        123456.789,
        -0.333,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.5,
        3.337_102_952_398_280_4e-308,
    ];

    #[test]
    fn nearest_even_agrees_with_the_host() {
        for &a in DOUBLES {
            for &b in DOUBLES {
                let mut f = 0;
                let cases = [
                    (add::<F64>(d(a), d(b), RNE, &mut f), a + b),
                    (sub::<F64>(d(a), d(b), RNE, &mut f), a - b),
                    (mul::<F64>(d(a), d(b), RNE, &mut f), a * b),
                    (div::<F64>(d(a), d(b), RNE, &mut f), a / b),
                    (
                        fused_mul_add::<F64>(d(a), d(b), d(a), (false, false), RNE, &mut f),
                        a.mul_add(b, a),
                    ),
                ];
                for (i, (got, want)) in cases.into_iter().enumerate() {
                    if want.is_nan() {
                        assert_eq!(got, F64::CANONICAL_NAN, "op {i} {a} {b}");
                    } else {
                        assert_eq!(
                            got,
                            d(want),
                            "op {i} {a:e} {b:e}: {:e}",
                            f64::from_bits(got)
                        );
                    }
                }
                let (fa, fb) = (a as f32, b as f32);
                let cases32 = [
                    (add::<F32>(s(fa), s(fb), RNE, &mut f), fa + fb),
                    (mul::<F32>(s(fa), s(fb), RNE, &mut f), fa * fb),
                    (div::<F32>(s(fa), s(fb), RNE, &mut f), fa / fb),
                ];
                for (i, (got, want)) in cases32.into_iter().enumerate() {
                    if want.is_nan() {
                        assert_eq!(got, F32::CANONICAL_NAN, "op {i} {fa} {fb}");
                    } else {
                        assert_eq!(got, s(want), "op {i} {fa:e} {fb:e}");
                    }
                }
            }
            let mut f = 0;
            if a >= 0.0 || a.is_nan() {
                assert_eq!(sqrt::<F64>(d(a), RNE, &mut f), d(a.sqrt()), "sqrt {a}");
            }
            assert_eq!(
                convert::<F64, F32>(d(a), RNE, &mut f),
                s(a as f32),
                "to f32 {a}"
            );
            assert_eq!(
                convert::<F32, F64>(s(a as f32), RNE, &mut f),
                d(f64::from(a as f32))
            );
        }
    }

    #[test]
    fn flags_of_the_classic_cases() {
        let mut f = 0;
        div::<F64>(d(1.0), d(0.0), RNE, &mut f);
        assert_eq!(f, DZ);
        f = 0;
        div::<F64>(d(0.0), d(0.0), RNE, &mut f);
        assert_eq!(f, NV);
        f = 0;
        add::<F64>(d(1.0), d(1e-30), RNE, &mut f);
        assert_eq!(f, NX);
        f = 0;
        mul::<F64>(d(1e300), d(1e300), RNE, &mut f);
        assert_eq!(f, OF | NX);
        f = 0;
        let r = mul::<F64>(d(1e300), d(1e300), Rounding::TowardZero, &mut f);
        assert_eq!(r, d(f64::MAX));
        f = 0;
        mul::<F64>(d(1e-300), d(1e-300), RNE, &mut f);
        assert_eq!(f, UF | NX);
        f = 0;
        // Exact subnormal results do not underflow.
        let r = mul::<F64>(d(5e-324), d(2.0), RNE, &mut f);
        assert_eq!((r, f), (d(1e-323), 0));
        f = 0;
        sqrt::<F64>(d(-1.0), RNE, &mut f);
        assert_eq!(f, NV);
    }

    #[test]
    fn tininess_is_detected_after_rounding() {
        // (1 - 2^-53) * 2^-1022 rounds (nearest even, unbounded exponent)
        // to 2^-1022, the smallest normal: not tiny, so no UF.
        let just_below = d(2.0f64.powi(-1022)) - 1; // largest subnormal
        let mut f = 0;
        // largest subnormal * (1 + 2^-52): exact value just below 2^-1022.
        let r = mul::<F64>(just_below, d(1.0 + f64::EPSILON), RNE, &mut f);
        assert_eq!(r, d(2.0f64.powi(-1022)));
        assert_eq!(f, NX);
    }

    #[test]
    fn conversions_saturate() {
        let mut f = 0;
        assert_eq!(
            to_int::<F64>(d(f64::NAN), IntType::I32, RNE, &mut f),
            i32::MAX as u64
        );
        assert_eq!(f, NV);
        f = 0;
        assert_eq!(
            to_int::<F64>(d(-1e20), IntType::I64, RNE, &mut f),
            i64::MIN as u64
        );
        assert_eq!(f, NV);
        f = 0;
        assert_eq!(to_int::<F64>(d(-0.4), IntType::U64, RNE, &mut f), 0);
        assert_eq!(f, NX);
        f = 0;
        assert_eq!(to_int::<F64>(d(-1.0), IntType::U64, RNE, &mut f), 0);
        assert_eq!(f, NV);
        f = 0;
        assert_eq!(to_int::<F64>(d(2.5), IntType::I64, RNE, &mut f), 2);
        assert_eq!(
            to_int::<F64>(d(2.5), IntType::I64, Rounding::NearestMaxMagnitude, &mut f),
            3
        );
        assert_eq!(
            to_int::<F64>(d(-2.5), IntType::I64, Rounding::Down, &mut f),
            -3i64 as u64
        );
        assert_eq!(
            to_int::<F32>(s(4e9), IntType::U32, RNE, &mut f),
            4_000_000_000u32 as i32 as u64
        );
        f = 0;
        assert_eq!(
            from_int::<F32>(u64::MAX, IntType::U64, RNE, &mut f),
            s(1.8446744e19)
        );
        assert_eq!(f, NX);
        assert_eq!(
            from_int::<F64>(-5i64 as u64, IntType::I32, RNE, &mut f),
            d(-5.0)
        );
    }

    /// Operands that reach the fast path and its edges: random bits with
    /// exponents spread over the whole range and clustered near the ends.
    fn interesting(seed: &mut u64, frac_bits: u32, exp_max: u64) -> u64 {
        // xorshift64*
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let r = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let exp = match r % 4 {
            0 => (r >> 8) % (exp_max + 1),
            1 => (r >> 8) % 4,
            2 => exp_max - (r >> 8) % 4,
            _ => exp_max / 2 + (r >> 8) % 8,
        };
        let frac = (r >> 16) & ((1 << frac_bits) - 1);
        // Few significant bits now and then, so that products are exact.
        let frac = if r & 0x30 == 0 {
            frac & !((1 << (frac_bits / 2)) - 1)
        } else {
            frac
        };
        ((r >> 63) << (frac_bits + if frac_bits == 52 { 11 } else { 8 }))
            | (exp << frac_bits)
            | frac
    }

    #[test]
    fn the_fast_path_agrees_with_the_software_path() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut fast = 0;
        for _ in 0..200_000 {
            let (a, b) = (
                interesting(&mut seed, 52, 0x7ff),
                interesting(&mut seed, 52, 0x7ff),
            );
            let (mut f1, mut f2) = (0, 0);
            if let Some(r) = fast_add::<F64>(a, b, &mut f1) {
                fast += 1;
                assert_eq!(
                    (r, f1),
                    (soft_add::<F64>(a, b, RNE, &mut f2), f2),
                    "{a:#x} + {b:#x}"
                );
            }
            let (mut f1, mut f2) = (0, 0);
            if let Some(r) = fast_mul::<F64>(a, b, &mut f1) {
                fast += 1;
                assert_eq!(
                    (r, f1),
                    (soft_mul::<F64>(a, b, RNE, &mut f2), f2),
                    "{a:#x} * {b:#x}"
                );
            }
            let (a, b) = (
                interesting(&mut seed, 23, 0xff),
                interesting(&mut seed, 23, 0xff),
            );
            let (mut f1, mut f2) = (0, 0);
            if let Some(r) = fast_add::<F32>(a, b, &mut f1) {
                assert_eq!(
                    (r, f1),
                    (soft_add::<F32>(a, b, RNE, &mut f2), f2),
                    "{a:#x} + {b:#x}"
                );
            }
            let (mut f1, mut f2) = (0, 0);
            if let Some(r) = fast_mul::<F32>(a, b, &mut f1) {
                assert_eq!(
                    (r, f1),
                    (soft_mul::<F32>(a, b, RNE, &mut f2), f2),
                    "{a:#x} * {b:#x}"
                );
            }
        }
        assert!(fast > 200_000, "the fast path was taken {fast} times");
    }

    /// With NX accrued already, every rounded operation must give what it
    /// gives from clear flags, and the flags it raises then plus NX (the
    /// host's results of ordinary operands: `fast_*` and `sqrt`).
    #[test]
    fn operations_with_nx_accrued_agree_with_clear_flags() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut ordinary = 0;
        for _ in 0..200_000 {
            let [a, b, c] = [0; 3].map(|_| interesting(&mut seed, 52, 0x7ff));
            let signs = (seed & 1 != 0, seed & 2 != 0);
            type Binary = fn(u64, u64, Rounding, &mut u8) -> u64;
            let binaries: [(&str, Binary); 4] = [
                ("+", add::<F64>),
                ("-", sub::<F64>),
                ("*", mul::<F64>),
                ("/", div::<F64>),
            ];
            for (name, f) in binaries {
                let (mut clear, mut accrued) = (0, NX);
                let expected = f(a, b, RNE, &mut clear);
                assert_eq!(
                    (f(a, b, RNE, &mut accrued), accrued),
                    (expected, clear | NX),
                    "{a:#x} {name} {b:#x}"
                );
            }
            let (mut clear, mut accrued) = (0, NX);
            let expected = fused_mul_add::<F64>(a, b, c, signs, RNE, &mut clear);
            assert_eq!(
                (
                    fused_mul_add::<F64>(a, b, c, signs, RNE, &mut accrued),
                    accrued
                ),
                (expected, clear | NX),
                "fma {a:#x} {b:#x} {c:#x} {signs:?}"
            );
            let (mut clear, mut accrued) = (0, NX);
            let expected = sqrt::<F64>(a, RNE, &mut clear);
            assert_eq!(
                (sqrt::<F64>(a, RNE, &mut accrued), accrued),
                (expected, clear | NX),
                "sqrt {a:#x}"
            );
            ordinary += u32::from(clear & !NX == 0);
            let [a, b] = [0; 2].map(|_| interesting(&mut seed, 23, 0xff));
            let (mut clear, mut accrued) = (0, NX);
            let expected = div::<F32>(a, b, RNE, &mut clear);
            assert_eq!(
                (div::<F32>(a, b, RNE, &mut accrued), accrued),
                (expected, clear | NX),
                "{a:#x} / {b:#x} (single)"
            );
            let (mut clear, mut accrued) = (0, NX);
            let expected = sqrt::<F32>(a, RNE, &mut clear);
            assert_eq!(
                (sqrt::<F32>(a, RNE, &mut accrued), accrued),
                (expected, clear | NX),
                "sqrt {a:#x} (single)"
            );
        }
        assert!(ordinary > 50_000, "only {ordinary} ordinary square roots");
    }

    #[test]
    fn min_max_and_class() {
        let mut f = 0;
        assert_eq!(min_max::<F64>(d(-0.0), d(0.0), false, &mut f), d(-0.0));
        assert_eq!(min_max::<F64>(d(0.0), d(-0.0), true, &mut f), d(0.0));
        assert_eq!(min_max::<F64>(d(f64::NAN), d(2.0), false, &mut f), d(2.0));
        assert_eq!(f, 0);
        let snan = 0x7ff0_0000_0000_0001;
        assert_eq!(min_max::<F64>(snan, d(2.0), true, &mut f), d(2.0));
        assert_eq!(f, NV);
        assert_eq!(class::<F64>(snan), 1 << 8);
        assert_eq!(class::<F64>(d(-5e-324)), 1 << 2);
        assert_eq!(class::<F32>(s(f32::INFINITY)), 1 << 7);
    }
}
