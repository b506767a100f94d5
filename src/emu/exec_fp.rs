//! The executor's floating-point handlers (F and D extensions): one per op
//! kind, each a one-line call of a shared shape, as in exec.rs. The
//! arithmetic itself is softfloat.rs; this file moves values between the
//! register files, resolves the rounding mode and accrues the flags.
//!
//! The floating-point state is the hart's (`Hart::f`, `Hart::fcsr`),
//! reached through `Exec::fpu`. Three rules of the spec live here:
//!
//! - **NaN-boxing** (spec 12.2): a single in a 64-bit register has its
//!   upper 32 bits all ones. Single results are written boxed, and a single
//!   operand that is not properly boxed reads as the canonical NaN — except
//!   for the moves and stores (`fmv.x.w`, `fsw`), which take the low bits as
//!   they are.
//! - **Rounding mode** (11.2): an instruction's `rm` field, or with `dyn`
//!   the `frm` field of `fcsr`; a reserved mode is an illegal instruction
//!   (`fault_illegal`), detected when the instruction runs, as on hardware.
//! - **Flags** accrue: every handler ORs the flags its operation raised
//!   into `fflags` (fcsr bits 4:0), which only a CSR write clears.
//!
//! Every handler is an `unsafe fn` of type `Handler`; the contract is the
//! one on `Handler` (op.rs). Floating-point register fields are at most 31
//! (lowered from 5-bit fields, block.rs) and are masked anyway.

use super::exception::Exception;
use super::exec::{address, fault, next, reg, set, store_miss};
use super::instruction::{CsrOp, CSR_FCSR, CSR_FFLAGS, CSR_FRM};
use super::mmu::Tlb;
use super::op::{csr_unpack, Exec, FpFields, Op};
use super::softfloat::{self, Format, IntType, Rounding, F32, F64};

/// The floating-point registers and `fcsr` of the running context.
#[derive(Debug)]
pub(crate) struct Fpu<'a> {
    /// `f0`..`f31`, 64 bits each (singles NaN-boxed).
    pub f: &'a mut [u64; 32],
    /// `frm` in bits 7:5, `fflags` in bits 4:0.
    pub fcsr: &'a mut u32,
}

/// A format as the register file sees it: how an operand is read (unboxed)
/// and a result written (boxed).
trait Width {
    type Format: Format;
    /// Bytes a load or store moves.
    const BYTES: u64;
    /// An operand: the canonical NaN for a single that is not NaN-boxed.
    fn read(raw: u64) -> u64;
    /// A result as the register holds it.
    fn box_value(value: u64) -> u64;
}

struct S;
struct D;

/// The upper half of a NaN-boxed single.
const BOX: u64 = 0xffff_ffff_0000_0000;

impl Width for S {
    type Format = F32;
    const BYTES: u64 = 4;
    fn read(raw: u64) -> u64 {
        if raw & BOX == BOX {
            raw & 0xffff_ffff
        } else {
            F32::CANONICAL_NAN
        }
    }
    fn box_value(value: u64) -> u64 {
        value | BOX
    }
}

impl Width for D {
    type Format = F64;
    const BYTES: u64 = 8;
    fn read(raw: u64) -> u64 {
        raw
    }
    fn box_value(value: u64) -> u64 {
        value
    }
}

impl Fpu<'_> {
    #[inline(always)]
    fn get(&self, i: u8) -> u64 {
        self.f[usize::from(i & 31)]
    }

    #[inline(always)]
    fn put(&mut self, i: u8, v: u64) {
        self.f[usize::from(i & 31)] = v;
    }

    /// Operand `i` as format `W` reads it.
    #[inline(always)]
    fn operand<W: Width>(&self, i: u8) -> u64 {
        W::read(self.get(i))
    }

    /// Writes a result of format `W` to `i`.
    #[inline(always)]
    fn result<W: Width>(&mut self, i: u8, value: u64) {
        self.put(i, W::box_value(value));
    }

    /// Accrues exception flags into `fflags`.
    #[inline(always)]
    fn raise(&mut self, flags: u8) {
        *self.fcsr |= u32::from(flags);
    }

    /// The flags accrued so far (`fflags`): where a rounded operation's
    /// flags start, so that softfloat.rs sees which it need not derive
    /// again (its fast path once NX is set). ORing them back in with
    /// `raise` changes nothing.
    #[inline(always)]
    fn accrued(&self) -> u8 {
        (*self.fcsr & 0x1f) as u8
    }

    /// The rounding mode of an `rm` field: itself, or `frm` for dynamic;
    /// `None` for a reserved mode.
    #[inline(always)]
    fn rounding(&self, rm: u8) -> Option<Rounding> {
        let rm = if rm == 7 {
            u64::from((*self.fcsr >> 5) & 7)
        } else {
            u64::from(rm)
        };
        Rounding::from_bits(rm)
    }
}

/// A reserved rounding mode (static 5 or 6 never decode; `dyn` with `frm`
/// 5..7): an illegal instruction (spec 11.2).
#[cold]
#[inline(never)]
fn fault_illegal(op: *const Op, e: &mut Exec, budget: u64, bits: u32) -> u64 {
    // SAFETY: `op` is the running op (the `Handler` contract).
    let offset = unsafe { (*op).offset };
    let pc = e.block_pc.wrapping_add(u64::from(offset));
    fault(op, e, budget, Exception::IllegalInstruction { pc, bits })
}

// ---- loads and stores --------------------------------------------------------

/// The shape of `flw`/`fld`: `rd` = the value at `rs1 + imm`, boxed. The
/// fast path is a TLB hit for an aligned access, as for integer loads.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_load<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let addr = address(x, o);
    let value = match Tlb::read_host(e.tlb, addr, W::BYTES) {
        // SAFETY (of the reads): a hit is a mapped frame's bytes, and an
        // aligned access stays within its page (as in exec.rs `load`).
        Some(host) if W::BYTES == 4 => u64::from(host.cast::<u32>().read_unaligned()),
        Some(host) => host.cast::<u64>().read_unaligned(),
        None => match e.bus.load(addr, W::BYTES) {
            Ok(v) => v,
            Err(exception) => return fault(op, e, budget, exception),
        },
    };
    e.fpu.result::<W>(o.rd, value);
    next(op, x, e, budget)
}

/// The shape of `fsw`/`fsd`: stores `rs2`'s low `BYTES` at `rs1 + imm`,
/// as they are (no unboxing).
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_store<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let addr = address(x, o);
    let value = e.fpu.get(o.rs2);
    match Tlb::write_host(e.tlb, addr, W::BYTES) {
        Some(host) => {
            // SAFETY (of the writes): as for integer stores (exec.rs `store`).
            if W::BYTES == 4 {
                host.cast::<u32>().write_unaligned(value as u32);
            } else {
                host.cast::<u64>().write_unaligned(value);
            }
            next(op, x, e, budget)
        }
        None if W::BYTES == 4 => store_miss::<u32>(op, x, e, budget, addr, value),
        None => store_miss::<u64>(op, x, e, budget, addr, value),
    }
}

/// `flw`: `rd` = the single at `rs1 + imm`, NaN-boxed.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_flw(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_load::<S>(op, x, e, budget)
}

/// `fld`: `rd` = the double at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fld(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_load::<D>(op, x, e, budget)
}

/// `fsw`: stores the low word of `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsw(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_store::<S>(op, x, e, budget)
}

/// `fsd`: stores `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsd(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_store::<D>(op, x, e, budget)
}

// ---- arithmetic ---------------------------------------------------------------

/// An operation of softfloat.rs with two operands and a rounding mode.
type Binary = fn(u64, u64, Rounding, &mut u8) -> u64;

/// The shape of the rounded two-operand operations: `rd = f(rs1, rs2)`.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_binary<W: Width>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    f: Binary,
) -> u64 {
    let o = &*op;
    let fields = FpFields::unpack(o.imm);
    let Some(rm) = e.fpu.rounding(fields.rm) else {
        return fault_illegal(op, e, budget, fields.bits);
    };
    let mut flags = e.fpu.accrued();
    let value = f(
        e.fpu.operand::<W>(o.rs1),
        e.fpu.operand::<W>(o.rs2),
        rm,
        &mut flags,
    );
    e.fpu.result::<W>(o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fadd.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fadd_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<S>(op, x, e, budget, softfloat::add::<F32>)
}

/// `fadd.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fadd_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<D>(op, x, e, budget, softfloat::add::<F64>)
}

/// `fsub.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsub_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<S>(op, x, e, budget, softfloat::sub::<F32>)
}

/// `fsub.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsub_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<D>(op, x, e, budget, softfloat::sub::<F64>)
}

/// `fmul.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmul_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<S>(op, x, e, budget, softfloat::mul::<F32>)
}

/// `fmul.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmul_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<D>(op, x, e, budget, softfloat::mul::<F64>)
}

/// `fdiv.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fdiv_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<S>(op, x, e, budget, softfloat::div::<F32>)
}

/// `fdiv.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fdiv_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_binary::<D>(op, x, e, budget, softfloat::div::<F64>)
}

/// The shape of the rounded one-operand operations between floating-point
/// registers: `rd = f(rs1)`, reading format `R` and writing `W`.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_unary<R: Width, W: Width>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    f: fn(u64, Rounding, &mut u8) -> u64,
) -> u64 {
    let o = &*op;
    let fields = FpFields::unpack(o.imm);
    let Some(rm) = e.fpu.rounding(fields.rm) else {
        return fault_illegal(op, e, budget, fields.bits);
    };
    let mut flags = e.fpu.accrued();
    let value = f(e.fpu.operand::<R>(o.rs1), rm, &mut flags);
    e.fpu.result::<W>(o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fsqrt.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsqrt_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_unary::<S, S>(op, x, e, budget, softfloat::sqrt::<F32>)
}

/// `fsqrt.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsqrt_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_unary::<D, D>(op, x, e, budget, softfloat::sqrt::<F64>)
}

/// `fcvt.s.d`: a double rounded to a single.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_s_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_unary::<D, S>(op, x, e, budget, softfloat::convert::<F64, F32>)
}

/// `fcvt.d.s`: a single widened (exactly) to a double.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_d_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_unary::<S, D>(op, x, e, budget, softfloat::convert::<F32, F64>)
}

/// The shape of the fused multiply-adds: `rd = ±(rs1 * rs2) ± rs3`, which
/// one in the sub-operation field (`FusedOp` order).
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_fused<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let fields = FpFields::unpack(o.imm);
    let Some(rm) = e.fpu.rounding(fields.rm) else {
        return fault_illegal(op, e, budget, fields.bits);
    };
    // (negate the product, negate the addend) of fmadd, fmsub, fnmsub, fnmadd.
    let signs = [(false, false), (false, true), (true, false), (true, true)];
    let mut flags = e.fpu.accrued();
    let value = softfloat::fused_mul_add::<W::Format>(
        e.fpu.operand::<W>(o.rs1),
        e.fpu.operand::<W>(o.rs2),
        e.fpu.operand::<W>(fields.rs3),
        signs[usize::from(fields.sub & 3)],
        rm,
        &mut flags,
    );
    e.fpu.result::<W>(o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fmadd.s`, `fmsub.s`, `fnmsub.s`, `fnmadd.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fused_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_fused::<S>(op, x, e, budget)
}

/// `fmadd.d`, `fmsub.d`, `fnmsub.d`, `fnmadd.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fused_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_fused::<D>(op, x, e, budget)
}

// ---- operations that do not round ------------------------------------------------

/// The shape of sign injection: the magnitude of `rs1` and a sign from
/// `rs2` (`FpSignOp` order: its sign, the opposite, the XOR of both).
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_sign<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let sign = <W::Format as Format>::SIGN;
    let (a, b) = (e.fpu.operand::<W>(o.rs1), e.fpu.operand::<W>(o.rs2));
    let new_sign = match FpFields::unpack(o.imm).sub {
        0 => b & sign,
        1 => !b & sign,
        _ => (a ^ b) & sign,
    };
    e.fpu.result::<W>(o.rd, (a & !sign) | new_sign);
    next(op, x, e, budget)
}

/// `fsgnj.s`, `fsgnjn.s`, `fsgnjx.s` (`fmv.s`, `fneg.s`, `fabs.s`)
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsgnj_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_sign::<S>(op, x, e, budget)
}

/// `fsgnj.d`, `fsgnjn.d`, `fsgnjx.d` (`fmv.d`, `fneg.d`, `fabs.d`)
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fsgnj_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_sign::<D>(op, x, e, budget)
}

/// The shape of fmin/fmax (sub-operation 1: fmax).
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_min_max<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let max = FpFields::unpack(o.imm).sub == 1;
    let mut flags = 0;
    let value = softfloat::min_max::<W::Format>(
        e.fpu.operand::<W>(o.rs1),
        e.fpu.operand::<W>(o.rs2),
        max,
        &mut flags,
    );
    e.fpu.result::<W>(o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fmin.s`, `fmax.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fminmax_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_min_max::<S>(op, x, e, budget)
}

/// `fmin.d`, `fmax.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fminmax_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_min_max::<D>(op, x, e, budget)
}

/// The shape of the comparisons: integer `rd` = 1 or 0 (`FpCompareOp`
/// order: feq, flt, fle).
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_compare<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let (a, b) = (e.fpu.operand::<W>(o.rs1), e.fpu.operand::<W>(o.rs2));
    let mut flags = 0;
    let result = match FpFields::unpack(o.imm).sub {
        0 => softfloat::eq::<W::Format>(a, b, &mut flags),
        1 => softfloat::less::<W::Format>(a, b, false, &mut flags),
        _ => softfloat::less::<W::Format>(a, b, true, &mut flags),
    };
    set(x, o.rd, u64::from(result));
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `feq.s`, `flt.s`, `fle.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcmp_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_compare::<S>(op, x, e, budget)
}

/// `feq.d`, `flt.d`, `fle.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcmp_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_compare::<D>(op, x, e, budget)
}

/// `fclass.s`: the class mask of `rs1` in integer `rd`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fclass_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, softfloat::class::<F32>(e.fpu.operand::<S>(o.rs1)));
    next(op, x, e, budget)
}

/// `fclass.d`: the class mask of `rs1` in integer `rd`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fclass_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, softfloat::class::<F64>(e.fpu.operand::<D>(o.rs1)));
    next(op, x, e, budget)
}

/// `fmv.x.w`: the low word of `rs1`, sign-extended, to integer `rd` (the
/// bits as they are, boxed or not).
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmv_x_w(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, e.fpu.get(o.rs1) as u32 as i32 as i64 as u64);
    next(op, x, e, budget)
}

/// `fmv.x.d`: the bits of `rs1` to integer `rd`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmv_x_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, e.fpu.get(o.rs1));
    next(op, x, e, budget)
}

/// `fmv.w.x`: the low word of integer `rs1`, NaN-boxed, to `rd`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmv_w_x(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    e.fpu.result::<S>(o.rd, reg(x, o.rs1) & 0xffff_ffff);
    next(op, x, e, budget)
}

/// `fmv.d.x`: the bits of integer `rs1` to `rd`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fmv_d_x(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    e.fpu.put(o.rd, reg(x, o.rs1));
    next(op, x, e, budget)
}

// ---- conversions with the integer registers ---------------------------------------

/// The integer type of a conversion's sub-operation field (`IntWidth`
/// order).
fn int_type(sub: u8) -> IntType {
    match sub & 3 {
        0 => IntType::I32,
        1 => IntType::U32,
        2 => IntType::I64,
        _ => IntType::U64,
    }
}

/// The shape of fcvt to an integer: integer `rd` = `rs1` rounded,
/// saturated.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_to_int<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let fields = FpFields::unpack(o.imm);
    let Some(rm) = e.fpu.rounding(fields.rm) else {
        return fault_illegal(op, e, budget, fields.bits);
    };
    let mut flags = 0;
    let value = softfloat::to_int::<W::Format>(
        e.fpu.operand::<W>(o.rs1),
        int_type(fields.sub),
        rm,
        &mut flags,
    );
    set(x, o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fcvt.w.s`, `fcvt.wu.s`, `fcvt.l.s`, `fcvt.lu.s`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_to_int_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_to_int::<S>(op, x, e, budget)
}

/// `fcvt.w.d`, `fcvt.wu.d`, `fcvt.l.d`, `fcvt.lu.d`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_to_int_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_to_int::<D>(op, x, e, budget)
}

/// The shape of fcvt from an integer: `rd` = integer `rs1`, rounded.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn fp_from_int<W: Width>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    let fields = FpFields::unpack(o.imm);
    let Some(rm) = e.fpu.rounding(fields.rm) else {
        return fault_illegal(op, e, budget, fields.bits);
    };
    let mut flags = 0;
    let value =
        softfloat::from_int::<W::Format>(reg(x, o.rs1), int_type(fields.sub), rm, &mut flags);
    e.fpu.result::<W>(o.rd, value);
    e.fpu.raise(flags);
    next(op, x, e, budget)
}

/// `fcvt.s.w`, `fcvt.s.wu`, `fcvt.s.l`, `fcvt.s.lu`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_from_int_s(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_from_int::<S>(op, x, e, budget)
}

/// `fcvt.d.w`, `fcvt.d.wu`, `fcvt.d.l`, `fcvt.d.lu`
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fcvt_from_int_d(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fp_from_int::<D>(op, x, e, budget)
}

// ---- the floating-point CSRs -----------------------------------------------------

/// csrrw/csrrs/csrrc and their immediate forms on `fflags` (fcsr bits
/// 4:0), `frm` (bits 7:5) and `fcsr` (bits 7:0; the bits above are
/// reserved and read as zero). `rd` gets the old value; csrrs/csrrc with a
/// zero source write the value back unchanged, which has no side effect.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_csr_fp(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    let (csr_op, csr, uimm) = csr_unpack(o.imm);
    let (shift, mask) = match csr {
        CSR_FFLAGS => (0, 0x1f),
        CSR_FRM => (5, 0x7),
        CSR_FCSR => (0, 0xff),
        _ => (0, 0),
    };
    let fcsr = u64::from(*e.fpu.fcsr);
    let old = (fcsr >> shift) & mask;
    // Read the source before writing `rd`: they may be the same register.
    let source = match csr_op {
        CsrOp::Csrrw | CsrOp::Csrrs | CsrOp::Csrrc => reg(x, o.rs1),
        CsrOp::Csrrwi | CsrOp::Csrrsi | CsrOp::Csrrci => uimm,
    };
    let new = match csr_op {
        CsrOp::Csrrw | CsrOp::Csrrwi => source,
        CsrOp::Csrrs | CsrOp::Csrrsi => old | source,
        CsrOp::Csrrc | CsrOp::Csrrci => old & !source,
    } & mask;
    *e.fpu.fcsr = ((fcsr & !(mask << shift)) | (new << shift)) as u32;
    set(x, o.rd, old);
    next(op, x, e, budget)
}
