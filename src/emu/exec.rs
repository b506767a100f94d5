//! The executor: runs the ops of one block. This is the emulator's hot path.
//!
//! How it is made fast (see shared/PERFORMANCE-NOTES.md):
//! - the block was decoded once; each op is a 16-byte value with everything
//!   pre-computed (absolute branch targets, sign-extended immediates);
//! - instructions are counted per block by the caller, not here; a fault in
//!   the middle of a block un-counts what did not run;
//! - the register file and the op array are reached through raw pointers
//!   hoisted into locals, so LLVM keeps them in host registers instead of
//!   reloading through `&mut self` after every store;
//! - `x0` never needs a check: ops with destination `x0` write the sink
//!   register 32 (block.rs);
//! - loads and stores go through the TLB with one compare (mmu.rs); misses,
//!   misaligned or page-crossing accesses, faults and stores to frames that
//!   hold code all go to `#[cold]` functions, so the fast path stays small.

use super::block::{amo_pack, BlockCache, Op, OpKind, AMO_OPS};
use super::exception::Exception;
use super::instruction::{AmoOp, AmoWidth, CSR_CYCLE, CSR_INSTRET, CSR_TIME};
use super::machine::{Hart, Machine};
use super::memory::PAGE_SIZE;
use super::mmu::{Access, PageTable, Tlb};

impl Machine {
    /// Runs the block whose ops start at `ops` and whose first instruction
    /// is at `block_pc`, adding its `count` of instructions to `instret` up
    /// front, and goes on with the blocks that follow as long as the jump
    /// cache knows them and the budget (`stop_at`) allows a whole block.
    /// Returns the pc where the jump cache missed (the caller decodes).
    ///
    /// # Safety
    /// `ops` must point at a sequence of ops that ends with a terminator,
    /// whose register fields are at most 32 (block.rs guarantees both).
    #[inline(always)]
    pub(crate) unsafe fn execute_block(
        &mut self,
        hart: &mut Hart,
        page_table: &mut PageTable,
        mut ops: *const Op,
        mut block_pc: u64,
        count: u64,
        stop_at: u64,
    ) -> Result<u64, Exception> {
        // Count the whole block now; `fail` below un-counts on a fault.
        let mut start_instret = self.instret;
        self.instret += count;
        let jump_cache = self.blocks.jump_cache.as_ptr();

        let regs: *mut u64 = hart.regs.as_mut_ptr();
        let tlb = self.tlb.entries.as_ptr();
        macro_rules! x {
            ($i:expr) => {
                *regs.add($i as usize)
            };
        }
        // Leaves the block with exception `$e` at op index `$i`: the faulting
        // instruction and those after it did not retire.
        macro_rules! fail {
            ($i:expr, $op:expr, $e:expr) => {{
                self.instret = start_instret + $i as u64;
                hart.pc = block_pc.wrapping_add(u64::from($op.offset));
                return Err($e);
            }};
        }
        macro_rules! load {
            ($i:expr, $op:expr, $ty:ty, $conv:expr) => {{
                let addr = x!($op.rs1).wrapping_add($op.imm as u64);
                let size = std::mem::size_of::<$ty>() as u64;
                let entry = &*tlb.add(Tlb::index(addr));
                let value: $ty = if entry.read_tag == Tlb::tag_for(addr, size) {
                    std::ptr::read_unaligned(
                        (addr as usize).wrapping_add(entry.addend) as *const $ty
                    )
                } else {
                    match self.load_slow(addr, size, page_table) {
                        Ok(v) => v as $ty,
                        Err(e) => fail!($i, $op, e),
                    }
                };
                x!($op.rd) = $conv(value);
            }};
        }
        macro_rules! store {
            ($i:expr, $op:expr, $ty:ty) => {{
                let addr = x!($op.rs1).wrapping_add($op.imm as u64);
                let size = std::mem::size_of::<$ty>() as u64;
                let value = x!($op.rs2) as $ty;
                let entry = &*tlb.add(Tlb::index(addr));
                if entry.write_tag == Tlb::tag_for(addr, size) {
                    std::ptr::write_unaligned(
                        (addr as usize).wrapping_add(entry.addend) as *mut $ty,
                        value,
                    );
                } else {
                    if let Err(e) = self.store_slow(addr, size, value as u64, page_table) {
                        fail!($i, $op, e);
                    }
                    if self.code_written {
                        // The store may have changed code of this very block:
                        // leave it after this instruction.
                        self.instret = start_instret + $i as u64 + 1;
                        return Ok(next_pc(block_pc, $op));
                    }
                }
            }};
        }

        let mut i = 0usize;
        // Block chaining: at a terminator, continue directly with the next
        // block if the jump cache has it and the budget allows all of it.
        macro_rules! chain {
            ($target:expr) => {{
                let target: u64 = $target;
                let entry = *jump_cache.add(BlockCache::jump_index(target));
                if entry.pc == target && entry.count <= stop_at.wrapping_sub(self.instret) {
                    ops = entry.ops;
                    block_pc = target;
                    start_instret = self.instret;
                    self.instret += entry.count;
                    i = 0;
                    continue;
                }
                return Ok(target);
            }};
        }

        loop {
            let op = &*ops.add(i);
            use OpKind as K;
            match op.kind {
                K::Li => x!(op.rd) = op.imm as u64,
                K::Mv => x!(op.rd) = x!(op.rs1),
                K::Addi => x!(op.rd) = x!(op.rs1).wrapping_add(op.imm as u64),
                K::Slti => x!(op.rd) = u64::from((x!(op.rs1) as i64) < op.imm),
                K::Sltiu => x!(op.rd) = u64::from(x!(op.rs1) < op.imm as u64),
                K::Xori => x!(op.rd) = x!(op.rs1) ^ op.imm as u64,
                K::Ori => x!(op.rd) = x!(op.rs1) | op.imm as u64,
                K::Andi => x!(op.rd) = x!(op.rs1) & op.imm as u64,
                K::Slli => x!(op.rd) = x!(op.rs1) << (op.imm & 63),
                K::Srli => x!(op.rd) = x!(op.rs1) >> (op.imm & 63),
                K::Srai => x!(op.rd) = ((x!(op.rs1) as i64) >> (op.imm & 63)) as u64,
                K::Addiw => x!(op.rd) = sext32(x!(op.rs1).wrapping_add(op.imm as u64) as u32),
                K::Slliw => x!(op.rd) = sext32((x!(op.rs1) as u32) << (op.imm & 31)),
                K::Srliw => x!(op.rd) = sext32((x!(op.rs1) as u32) >> (op.imm & 31)),
                K::Sraiw => x!(op.rd) = ((x!(op.rs1) as i32) >> (op.imm & 31)) as i64 as u64,
                K::Add => x!(op.rd) = x!(op.rs1).wrapping_add(x!(op.rs2)),
                K::Sub => x!(op.rd) = x!(op.rs1).wrapping_sub(x!(op.rs2)),
                K::Sll => x!(op.rd) = x!(op.rs1) << (x!(op.rs2) & 63),
                K::Slt => x!(op.rd) = u64::from((x!(op.rs1) as i64) < (x!(op.rs2) as i64)),
                K::Sltu => x!(op.rd) = u64::from(x!(op.rs1) < x!(op.rs2)),
                K::Xor => x!(op.rd) = x!(op.rs1) ^ x!(op.rs2),
                K::Srl => x!(op.rd) = x!(op.rs1) >> (x!(op.rs2) & 63),
                K::Sra => x!(op.rd) = ((x!(op.rs1) as i64) >> (x!(op.rs2) & 63)) as u64,
                K::Or => x!(op.rd) = x!(op.rs1) | x!(op.rs2),
                K::And => x!(op.rd) = x!(op.rs1) & x!(op.rs2),
                K::Mul => x!(op.rd) = x!(op.rs1).wrapping_mul(x!(op.rs2)),
                K::Mulh => {
                    let p = i128::from(x!(op.rs1) as i64) * i128::from(x!(op.rs2) as i64);
                    x!(op.rd) = (p >> 64) as u64;
                }
                K::Mulhsu => {
                    let p = i128::from(x!(op.rs1) as i64).wrapping_mul(i128::from(x!(op.rs2)));
                    x!(op.rd) = (p >> 64) as u64;
                }
                K::Mulhu => {
                    let p = u128::from(x!(op.rs1)) * u128::from(x!(op.rs2));
                    x!(op.rd) = (p >> 64) as u64;
                }
                K::Div => x!(op.rd) = div(x!(op.rs1) as i64, x!(op.rs2) as i64) as u64,
                K::Divu => x!(op.rd) = x!(op.rs1).checked_div(x!(op.rs2)).unwrap_or(u64::MAX),
                K::Rem => x!(op.rd) = rem(x!(op.rs1) as i64, x!(op.rs2) as i64) as u64,
                K::Remu => {
                    let (a, b) = (x!(op.rs1), x!(op.rs2));
                    x!(op.rd) = if b == 0 { a } else { a % b };
                }
                K::Addw => x!(op.rd) = sext32(x!(op.rs1).wrapping_add(x!(op.rs2)) as u32),
                K::Subw => x!(op.rd) = sext32(x!(op.rs1).wrapping_sub(x!(op.rs2)) as u32),
                K::Sllw => x!(op.rd) = sext32((x!(op.rs1) as u32) << (x!(op.rs2) & 31)),
                K::Srlw => x!(op.rd) = sext32((x!(op.rs1) as u32) >> (x!(op.rs2) & 31)),
                K::Sraw => x!(op.rd) = ((x!(op.rs1) as i32) >> (x!(op.rs2) & 31)) as i64 as u64,
                K::Mulw => x!(op.rd) = sext32((x!(op.rs1) as u32).wrapping_mul(x!(op.rs2) as u32)),
                K::Divw => {
                    x!(op.rd) = i64::from(div32(x!(op.rs1) as i32, x!(op.rs2) as i32)) as u64;
                }
                K::Divuw => {
                    let (a, b) = (x!(op.rs1) as u32, x!(op.rs2) as u32);
                    x!(op.rd) = sext32(a.checked_div(b).unwrap_or(u32::MAX));
                }
                K::Remw => {
                    x!(op.rd) = i64::from(rem32(x!(op.rs1) as i32, x!(op.rs2) as i32)) as u64;
                }
                K::Remuw => {
                    let (a, b) = (x!(op.rs1) as u32, x!(op.rs2) as u32);
                    x!(op.rd) = sext32(if b == 0 { a } else { a % b });
                }
                K::Lb => load!(i, op, i8, |v: i8| v as i64 as u64),
                K::Lh => load!(i, op, i16, |v: i16| v as i64 as u64),
                K::Lw => load!(i, op, i32, |v: i32| v as i64 as u64),
                K::Ld => load!(i, op, u64, |v: u64| v),
                K::Lbu => load!(i, op, u8, u64::from),
                K::Lhu => load!(i, op, u16, u64::from),
                K::Lwu => load!(i, op, u32, u64::from),
                K::Sb => store!(i, op, u8),
                K::Sh => store!(i, op, u16),
                K::Sw => store!(i, op, u32),
                K::Sd => store!(i, op, u64),
                K::CsrRead => {
                    // All three counters are the instruction count: one
                    // instruction per cycle, and "time" ticks per instruction,
                    // so every run is deterministic. The value is the count
                    // before this instruction (privileged spec 3.1.11).
                    let before = start_instret + i as u64;
                    x!(op.rd) = match op.imm as u16 {
                        CSR_CYCLE | CSR_TIME | CSR_INSTRET => before,
                        _ => before,
                    };
                }
                K::Amo => {
                    if let Err(e) = self.amo(hart, op, page_table) {
                        fail!(i, op, e);
                    }
                    if self.code_written {
                        self.instret = start_instret + i as u64 + 1;
                        return Ok(next_pc(block_pc, op));
                    }
                }
                K::Nop => {}
                K::Beq => {
                    chain!(if x!(op.rs1) == x!(op.rs2) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Bne => {
                    chain!(if x!(op.rs1) != x!(op.rs2) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Blt => {
                    chain!(if (x!(op.rs1) as i64) < (x!(op.rs2) as i64) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Bge => {
                    chain!(if (x!(op.rs1) as i64) >= (x!(op.rs2) as i64) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Bltu => {
                    chain!(if x!(op.rs1) < x!(op.rs2) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Bgeu => {
                    chain!(if x!(op.rs1) >= x!(op.rs2) {
                        op.imm as u64
                    } else {
                        next_pc(block_pc, op)
                    });
                }
                K::Jal => {
                    x!(op.rd) = next_pc(block_pc, op);
                    chain!(op.imm as u64)
                }
                K::Jalr => {
                    // Read rs1 before writing rd: they may be the same register.
                    let target = x!(op.rs1).wrapping_add(op.imm as u64) & !1;
                    x!(op.rd) = next_pc(block_pc, op);
                    chain!(target)
                }
                K::Ecall => fail!(i, op, Exception::Syscall),
                K::Ebreak => {
                    let pc = block_pc.wrapping_add(u64::from(op.offset));
                    fail!(i, op, Exception::Breakpoint { pc })
                }
                K::Illegal => {
                    let pc = block_pc.wrapping_add(u64::from(op.offset));
                    fail!(
                        i,
                        op,
                        Exception::IllegalInstruction {
                            pc,
                            bits: op.imm as u32
                        }
                    )
                }
                K::Fallthrough => {
                    chain!(block_pc.wrapping_add(u64::from(op.offset)))
                }
            }
            i += 1;
        }
    }

    /// A load that missed the TLB's fast path: translates (possibly byte by
    /// byte, for a misaligned access that crosses a page) and reads.
    #[cold]
    #[inline(never)]
    pub(crate) fn load_slow(
        &mut self,
        addr: u64,
        size: u64,
        page_table: &mut PageTable,
    ) -> Result<u64, Exception> {
        let mut value = 0u64;
        let mut phys = self.translate(addr, Access::Read, page_table)?;
        for k in 0..size {
            let a = addr.wrapping_add(k);
            if k > 0 && a & (PAGE_SIZE - 1) == 0 {
                phys = self.translate(a, Access::Read, page_table)?;
            } else if k > 0 {
                phys += 1;
            }
            let frame = super::memory::Frame((phys >> 12) as u32);
            let byte = self.memory.frame_bytes(frame)[(phys & (PAGE_SIZE - 1)) as usize];
            value |= u64::from(byte) << (8 * k);
        }
        Ok(value)
    }

    /// A store that missed the TLB's fast path. Translates every page the
    /// store touches before writing anything, so a fault leaves memory as
    /// it was. Writing a frame with decoded code sets `code_written`.
    #[cold]
    #[inline(never)]
    pub(crate) fn store_slow(
        &mut self,
        addr: u64,
        size: u64,
        value: u64,
        page_table: &mut PageTable,
    ) -> Result<(), Exception> {
        let first = self.translate(addr, Access::Write, page_table)?;
        let last_addr = addr.wrapping_add(size - 1);
        let second = if (last_addr ^ addr) & !(PAGE_SIZE - 1) != 0 {
            Some(self.translate(last_addr & !(PAGE_SIZE - 1), Access::Write, page_table)?)
        } else {
            None
        };
        for k in 0..size {
            let a = addr.wrapping_add(k);
            let phys = match second {
                Some(second) if (a ^ addr) & !(PAGE_SIZE - 1) != 0 => {
                    second + (a & (PAGE_SIZE - 1))
                }
                _ => first + k,
            };
            let frame = super::memory::Frame((phys >> 12) as u32);
            if self.memory.holds_code(frame) {
                self.code_written = true;
            }
            self.memory.frame_bytes_mut(frame)[(phys & (PAGE_SIZE - 1)) as usize] =
                (value >> (8 * k)) as u8;
        }
        Ok(())
    }

    /// Atomics (A extension): always through the slow path; they are rare.
    /// The address must be naturally aligned (else `Misaligned`).
    #[cold]
    #[inline(never)]
    fn amo(
        &mut self,
        hart: &mut Hart,
        op: &Op,
        page_table: &mut PageTable,
    ) -> Result<(), Exception> {
        let (amo, width) = AMO_OPS
            .iter()
            .flat_map(|&a| [(a, AmoWidth::Word), (a, AmoWidth::Double)])
            .find(|&(a, w)| amo_pack(a, w) == op.imm)
            .unwrap_or((AmoOp::Lr, AmoWidth::Double));
        let size = match width {
            AmoWidth::Word => 4,
            AmoWidth::Double => 8,
        };
        let addr = hart.regs[op.rs1 as usize];
        let src = hart.regs[op.rs2 as usize];
        let access = if amo == AmoOp::Lr {
            Access::Read
        } else {
            Access::Write
        };
        if addr % size != 0 {
            return Err(Exception::Misaligned {
                vaddr: addr,
                access,
            });
        }
        let extend = |v: u64| {
            if size == 4 {
                v as u32 as i32 as i64 as u64
            } else {
                v
            }
        };
        match amo {
            AmoOp::Lr => {
                let v = self.load_slow(addr, size, page_table)?;
                self.reservation = Some(self.translate(addr, Access::Read, page_table)?);
                hart.regs[op.rd as usize] = extend(v);
            }
            AmoOp::Sc => {
                let phys = self.translate(addr, Access::Write, page_table)?;
                if self.reservation.take() == Some(phys) {
                    self.store_slow(addr, size, src, page_table)?;
                    hart.regs[op.rd as usize] = 0;
                } else {
                    hart.regs[op.rd as usize] = 1;
                }
            }
            _ => {
                // Check write permission first, so a fault has no effect.
                self.translate(addr, Access::Write, page_table)?;
                let old = extend(self.load_slow(addr, size, page_table)?);
                let src = extend(src);
                let new = match amo {
                    AmoOp::Swap => src,
                    AmoOp::Add => old.wrapping_add(src),
                    AmoOp::Xor => old ^ src,
                    AmoOp::And => old & src,
                    AmoOp::Or => old | src,
                    AmoOp::Min => (old as i64).min(src as i64) as u64,
                    AmoOp::Max => (old as i64).max(src as i64) as u64,
                    AmoOp::Minu => old.min(src),
                    AmoOp::Maxu => old.max(src),
                    AmoOp::Lr | AmoOp::Sc => old,
                };
                self.store_slow(addr, size, new, page_table)?;
                hart.regs[op.rd as usize] = old;
            }
        }
        hart.regs[0] = 0;
        Ok(())
    }
}

#[inline(always)]
fn next_pc(block_pc: u64, op: &Op) -> u64 {
    block_pc.wrapping_add(u64::from(op.offset) + u64::from(op.len))
}

#[inline(always)]
fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// Signed division as RISC-V defines it (unprivileged spec 13.2): division
/// by zero gives -1, overflow (MIN / -1) gives MIN.
fn div(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn div32(a: i32, b: i32) -> i32 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem32(a: i32, b: i32) -> i32 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}
