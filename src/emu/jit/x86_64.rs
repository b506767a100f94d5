//! The x86-64 code generator (dynasm templates) and the executable memory
//! the code lives in.
//!
//! Register use inside compiled code (System V calling convention, which
//! every `Handler` has): `rdi` = the block's first op, `rsi` = the guest
//! register file (33 `u64`s: `x[i]` at `rsi + 8*i`), `rdx` = `&mut Exec`;
//! these three are left untouched so that any exit can jump to an
//! interpreter handler with them. `r11` holds the TLB's entries; `rax`,
//! `rcx`, `r8` are scratch. Only caller-saved registers are used and
//! nothing is pushed: the code needs no stack frame, and its exits are
//! plain jumps (as the interpreter's tail calls are).

use std::mem::{offset_of, size_of};

use dynasmrt::mmap::ExecutableBuffer;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use super::MAX_CODE_BYTES;
use crate::emu::memory::PAGE_SIZE;
use crate::emu::mmu::{TlbEntry, TLB_ENTRIES};
use crate::emu::op::{Exec, Handler, JumpEntry, Op, OpKind, JUMP_CACHE_ENTRIES};

/// Size of one chunk of executable memory.
const CHUNK_BYTES: usize = 1 << 20;

// The layouts the templates below rely on.
const OP_BYTES: i32 = size_of::<Op>() as i32;
const _: () = assert!(offset_of!(Op, handler) == 0);
const _: () = assert!(size_of::<TlbEntry>() == 32);
const TLB_ENTRY_SHIFT: i8 = 5;
const READ_TAG: i32 = offset_of!(TlbEntry, read_tag) as i32;
const WRITE_TAG: i32 = offset_of!(TlbEntry, write_tag) as i32;
const ADDEND: i32 = offset_of!(TlbEntry, addend) as i32;
const EXEC_TLB: i32 = offset_of!(Exec<'static>, tlb) as i32;
const PAGE_SHIFT: i8 = PAGE_SIZE.trailing_zeros() as i8;
const TLB_INDEX_MASK: i32 = TLB_ENTRIES as i32 - 1;
const EXEC_JUMP_CACHE: i32 = offset_of!(Exec<'static>, jump_cache) as i32;
const EXEC_BLOCK_PC: i32 = offset_of!(Exec<'static>, block_pc) as i32;
const EXEC_OPS: i32 = offset_of!(Exec<'static>, ops) as i32;
const EXEC_START_INSTRET: i32 = offset_of!(Exec<'static>, start_instret) as i32;
const EXEC_INSTRET: i32 = offset_of!(Exec<'static>, instret) as i32;
const EXEC_STOP_AT: i32 = offset_of!(Exec<'static>, stop_at) as i32;
const _: () = assert!(size_of::<JumpEntry>() == 24);
const JUMP_PC: i32 = offset_of!(JumpEntry, pc) as i32;
const JUMP_OPS: i32 = offset_of!(JumpEntry, ops) as i32;
const JUMP_COUNT: i32 = offset_of!(JumpEntry, count) as i32;
const JUMP_INDEX_MASK: i32 = JUMP_CACHE_ENTRIES as i32 - 1;

/// Executable memory, filled chunk after chunk; code is never moved or
/// freed while the arena lives (module doc of jit/mod.rs).
pub(super) struct CodeArena {
    chunks: Vec<ExecutableBuffer>,
    total: usize,
}

impl CodeArena {
    pub fn new() -> CodeArena {
        CodeArena {
            chunks: Vec::new(),
            total: 0,
        }
    }

    /// Copies `code` into executable memory and returns where it starts;
    /// `None` when the arena is full or the host refuses memory. Existing
    /// code stays where it is.
    fn add(&mut self, code: &[u8]) -> Option<*const u8> {
        if code.len() > CHUNK_BYTES || self.total + code.len() > MAX_CODE_BYTES {
            return None;
        }
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.size() - c.len() >= code.len());
        if !fits {
            self.chunks.push(ExecutableBuffer::new(CHUNK_BYTES).ok()?);
        }
        let chunk = self.chunks.pop()?;
        let start = chunk.len();
        // While the chunk is writable none of its code runs: compiling
        // happens between runs of handlers (block.rs, `fetch`).
        let Ok(mut writable) = chunk.make_mut() else {
            // The mapping is gone with the failed call, and with it code that
            // blocks may still point to: there is no safe way on.
            std::process::abort();
        };
        writable.set_len(start + code.len());
        writable[start..].copy_from_slice(code);
        let Ok(chunk) = writable.make_exec() else {
            std::process::abort();
        };
        let at = chunk.as_ptr().wrapping_add(start);
        self.chunks.push(chunk);
        self.total += code.len();
        Some(at)
    }
}

/// Whether `op` (not a terminator) has a template here.
fn compiles(op: &Op) -> bool {
    use OpKind as K;
    let imm32 = i32::try_from(op.imm).is_ok();
    match op.kind {
        K::Li | K::Mv | K::Nop => true,
        K::Addi | K::Slti | K::Sltiu | K::Xori | K::Ori | K::Andi | K::Addiw => imm32,
        K::Slli | K::Srli | K::Srai | K::Slliw | K::Srliw | K::Sraiw => true,
        K::Add | K::Sub | K::Sll | K::Slt | K::Sltu | K::Xor | K::Srl | K::Sra | K::Or | K::And => {
            true
        }
        K::Mul | K::Addw | K::Subw | K::Sllw | K::Srlw | K::Sraw | K::Mulw => true,
        K::Sh1add | K::Sh2add | K::Sh3add => true,
        K::Div | K::Divu | K::Rem | K::Remu | K::Divw | K::Divuw | K::Remw | K::Remuw => true,
        K::Mulh | K::Mulhu => true,
        K::Lb | K::Lh | K::Lw | K::Ld | K::Lbu | K::Lhu | K::Lwu => imm32,
        K::Sb | K::Sh | K::Sw | K::Sd => imm32,
        _ => false,
    }
}

/// Compiles the block `ops` (module doc of jit/mod.rs); `None` if its
/// first op has no template (the code would exit to `ops[0]`'s handler,
/// which it replaces) or memory for code is used up.
pub(super) fn compile(arena: &mut CodeArena, ops: &[Op], pc: u64) -> Option<Handler> {
    let first = ops.first()?;
    if first.kind.is_terminator() || !compiles(first) {
        return None;
    }
    let mut a = VecAssembler::<X64Relocation>::new(0);
    // Exits of loads and stores that missed the TLB: (label, op index).
    let mut misses: Vec<(DynamicLabel, usize)> = Vec::new();
    dynasm!(a ; .arch x64 ; mov r11, QWORD [rdx + EXEC_TLB]);
    let mut end = ops.len() - 1;
    for (i, op) in ops.iter().enumerate() {
        if op.kind.is_terminator() || !compiles(op) {
            end = i;
            break;
        }
        emit_op(&mut a, op, i, &mut misses);
    }
    let last = &ops[end];
    if !emit_terminator(&mut a, last, pc) {
        exit_to(&mut a, ops, end);
    }
    for (label, i) in misses {
        dynasm!(a ; .arch x64 ; =>label);
        exit_to(&mut a, ops, i);
    }
    let code = a.finalize().ok()?;
    let at = arena.add(&code)?;
    // The code follows the `Handler` ABI (extern "C", i.e. System V on
    // x86-64: arguments in rdi, rsi, rdx) and contract: it reads and writes
    // only the register file, guest memory through TLB hits, and leaves by
    // jumping to an interpreter handler of this block with its arguments.
    // SAFETY: `at` is the start of that code, just copied into executable
    // memory that lives as long as the arena (never freed or moved while
    // the machine lives), so it is a valid `Handler` for that long.
    Some(unsafe { std::mem::transmute::<*const u8, Handler>(at) })
}

/// Leaves compiled code for the interpreter: to the handler of op `i`,
/// with op `i` as its first argument. The handler is the one the op had
/// when compiled (for op 0, the interpreter's own, never this code).
fn exit_to(a: &mut VecAssembler<X64Relocation>, ops: &[Op], i: usize) {
    let offset = OP_BYTES * i as i32;
    let handler = ops[i].handler as usize as i64;
    dynasm!(a
        ; .arch x64
        ; add rdi, offset
        ; mov rax, QWORD handler
        ; jmp rax
    );
}

/// Emits a block's terminator `op` (of the block at virtual `pc`) if it has
/// a template: it computes the next pc and chains there (`chain`). Returns
/// false for the others.
fn emit_terminator(a: &mut VecAssembler<X64Relocation>, op: &Op, pc: u64) -> bool {
    use OpKind as K;
    let rd = 8 * i32::from(op.rd);
    let rs1 = 8 * i32::from(op.rs1);
    let rs2 = 8 * i32::from(op.rs2);
    let after = pc.wrapping_add(u64::from(op.offset) + u64::from(op.len)) as i64;
    let target = op.imm;
    match op.kind {
        K::Fallthrough => {
            let next = pc.wrapping_add(u64::from(op.offset)) as i64;
            dynasm!(a ; .arch x64 ; mov rax, QWORD next);
            chain(a);
        }
        K::Jal => {
            dynasm!(a ; .arch x64 ; mov rax, QWORD after ; mov QWORD [rsi + rd], rax);
            dynasm!(a ; .arch x64 ; mov rax, QWORD target);
            chain(a);
        }
        K::Jalr => {
            let Ok(imm) = i32::try_from(op.imm) else {
                return false;
            };
            // The target from rs1 before rd is written: they may be one.
            dynasm!(a
                ; .arch x64
                ; mov r9, QWORD [rsi + rs1]
                ; add r9, imm
                ; and r9, -2
                ; mov rax, QWORD after
                ; mov QWORD [rsi + rd], rax
                ; mov rax, r9
            );
            chain(a);
        }
        K::Beq | K::Bne | K::Blt | K::Bge | K::Bltu | K::Bgeu => {
            let taken = a.new_dynamic_label();
            dynasm!(a ; .arch x64 ; mov rax, QWORD [rsi + rs1] ; cmp rax, QWORD [rsi + rs2]);
            match op.kind {
                K::Beq => dynasm!(a ; .arch x64 ; je =>taken),
                K::Bne => dynasm!(a ; .arch x64 ; jne =>taken),
                K::Blt => dynasm!(a ; .arch x64 ; jl =>taken),
                K::Bge => dynasm!(a ; .arch x64 ; jge =>taken),
                K::Bltu => dynasm!(a ; .arch x64 ; jb =>taken),
                _ => dynasm!(a ; .arch x64 ; jae =>taken),
            }
            dynasm!(a ; .arch x64 ; mov rax, QWORD after);
            chain(a);
            dynasm!(a ; .arch x64 ; =>taken ; mov rax, QWORD target);
            chain(a);
        }
        _ => return false,
    }
    true
}

/// Emits block chaining to the pc in `rax` (exec.rs, `chain`, in machine
/// code): if the jump cache has the block for it and the budget allows
/// the whole block, counts it, makes it the running block and jumps to its
/// first handler; otherwise returns the pc to the run loop.
fn chain(a: &mut VecAssembler<X64Relocation>) {
    let slow = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        // The entry: jump_cache + 24 * ((pc >> 1) & mask) (op.rs, `JumpEntry::index`).
        ; mov rcx, rax
        ; shr rcx, 1
        ; and ecx, JUMP_INDEX_MASK
        ; lea rcx, [rcx + rcx * 2]
        ; mov r8, QWORD [rdx + EXEC_JUMP_CACHE]
        ; lea r8, [r8 + rcx * 8]
        ; cmp rax, QWORD [r8 + JUMP_PC]
        ; jne =>slow
        // instret + count <= stop_at, or the run loop decides.
        ; mov r9, QWORD [rdx + EXEC_INSTRET]
        ; mov rcx, r9
        ; add rcx, QWORD [r8 + JUMP_COUNT]
        ; cmp rcx, QWORD [rdx + EXEC_STOP_AT]
        ; ja =>slow
        ; mov QWORD [rdx + EXEC_START_INSTRET], r9
        ; mov QWORD [rdx + EXEC_INSTRET], rcx
        ; mov QWORD [rdx + EXEC_BLOCK_PC], rax
        ; mov rdi, QWORD [r8 + JUMP_OPS]
        ; mov QWORD [rdx + EXEC_OPS], rdi
        ; jmp QWORD [rdi]
        ; =>slow
        ; ret
    );
}

/// Emits op `i`, an op `compiles` accepts.
fn emit_op(
    a: &mut VecAssembler<X64Relocation>,
    op: &Op,
    i: usize,
    misses: &mut Vec<(DynamicLabel, usize)>,
) {
    use OpKind as K;
    let rd = 8 * i32::from(op.rd);
    let rs1 = 8 * i32::from(op.rs1);
    let rs2 = 8 * i32::from(op.rs2);
    let imm = op.imm as i32;
    let shamt = (op.imm & 63) as i8;
    let shamt_w = (op.imm & 31) as i8;
    macro_rules! x {
        ($($t:tt)*) => { dynasm!(a ; .arch x64 ; $($t)*) };
    }
    // rd = rax, sign-extended from eax for the W forms.
    macro_rules! store_rd {
        () => { x!(mov QWORD [rsi + rd], rax) };
        (w) => { x!(movsxd rax, eax ; mov QWORD [rsi + rd], rax) };
    }
    match op.kind {
        K::Nop => {}
        K::Li => {
            if let Ok(v) = i32::try_from(op.imm) {
                x!(mov QWORD [rsi + rd], v);
            } else {
                x!(mov rax, QWORD op.imm ; mov QWORD [rsi + rd], rax);
            }
        }
        K::Mv => {
            x!(mov rax, QWORD [rsi + rs1]);
            store_rd!();
        }
        K::Addi => {
            x!(mov rax, QWORD [rsi + rs1] ; add rax, imm);
            store_rd!();
        }
        K::Xori => {
            x!(mov rax, QWORD [rsi + rs1] ; xor rax, imm);
            store_rd!();
        }
        K::Ori => {
            x!(mov rax, QWORD [rsi + rs1] ; or rax, imm);
            store_rd!();
        }
        K::Andi => {
            x!(mov rax, QWORD [rsi + rs1] ; and rax, imm);
            store_rd!();
        }
        K::Slti => {
            x!(xor eax, eax ; cmp QWORD [rsi + rs1], imm ; setl al);
            store_rd!();
        }
        K::Sltiu => {
            x!(xor eax, eax ; cmp QWORD [rsi + rs1], imm ; setb al);
            store_rd!();
        }
        K::Slli => {
            x!(mov rax, QWORD [rsi + rs1] ; shl rax, shamt);
            store_rd!();
        }
        K::Srli => {
            x!(mov rax, QWORD [rsi + rs1] ; shr rax, shamt);
            store_rd!();
        }
        K::Srai => {
            x!(mov rax, QWORD [rsi + rs1] ; sar rax, shamt);
            store_rd!();
        }
        K::Addiw => {
            x!(mov eax, DWORD [rsi + rs1] ; add eax, imm);
            store_rd!(w);
        }
        K::Slliw => {
            x!(mov eax, DWORD [rsi + rs1] ; shl eax, shamt_w);
            store_rd!(w);
        }
        K::Srliw => {
            x!(mov eax, DWORD [rsi + rs1] ; shr eax, shamt_w);
            store_rd!(w);
        }
        K::Sraiw => {
            x!(mov eax, DWORD [rsi + rs1] ; sar eax, shamt_w);
            store_rd!(w);
        }
        K::Add => {
            x!(mov rax, QWORD [rsi + rs1] ; add rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        K::Sub => {
            x!(mov rax, QWORD [rsi + rs1] ; sub rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        K::Xor => {
            x!(mov rax, QWORD [rsi + rs1] ; xor rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        K::Or => {
            x!(mov rax, QWORD [rsi + rs1] ; or rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        K::And => {
            x!(mov rax, QWORD [rsi + rs1] ; and rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        K::Mul => {
            x!(mov rax, QWORD [rsi + rs1] ; imul rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        // x86 masks 64-bit shift counts to 6 bits and 32-bit ones to 5, as
        // RISC-V does (unprivileged spec 2.4.2, 4.2.2).
        K::Sll => {
            x!(mov rax, QWORD [rsi + rs1] ; mov rcx, QWORD [rsi + rs2] ; shl rax, cl);
            store_rd!();
        }
        K::Srl => {
            x!(mov rax, QWORD [rsi + rs1] ; mov rcx, QWORD [rsi + rs2] ; shr rax, cl);
            store_rd!();
        }
        K::Sra => {
            x!(mov rax, QWORD [rsi + rs1] ; mov rcx, QWORD [rsi + rs2] ; sar rax, cl);
            store_rd!();
        }
        K::Slt => {
            x!(xor eax, eax ; mov rcx, QWORD [rsi + rs1] ; cmp rcx, QWORD [rsi + rs2] ; setl al);
            store_rd!();
        }
        K::Sltu => {
            x!(xor eax, eax ; mov rcx, QWORD [rsi + rs1] ; cmp rcx, QWORD [rsi + rs2] ; setb al);
            store_rd!();
        }
        K::Addw => {
            x!(mov eax, DWORD [rsi + rs1] ; add eax, DWORD [rsi + rs2]);
            store_rd!(w);
        }
        K::Subw => {
            x!(mov eax, DWORD [rsi + rs1] ; sub eax, DWORD [rsi + rs2]);
            store_rd!(w);
        }
        K::Mulw => {
            x!(mov eax, DWORD [rsi + rs1] ; imul eax, DWORD [rsi + rs2]);
            store_rd!(w);
        }
        K::Sllw => {
            x!(mov eax, DWORD [rsi + rs1] ; mov ecx, DWORD [rsi + rs2] ; shl eax, cl);
            store_rd!(w);
        }
        K::Srlw => {
            x!(mov eax, DWORD [rsi + rs1] ; mov ecx, DWORD [rsi + rs2] ; shr eax, cl);
            store_rd!(w);
        }
        K::Sraw => {
            x!(mov eax, DWORD [rsi + rs1] ; mov ecx, DWORD [rsi + rs2] ; sar eax, cl);
            store_rd!(w);
        }
        K::Sh1add | K::Sh2add | K::Sh3add => {
            let k: i8 = match op.kind {
                K::Sh1add => 1,
                K::Sh2add => 2,
                _ => 3,
            };
            x!(mov rax, QWORD [rsi + rs1] ; shl rax, k ; add rax, QWORD [rsi + rs2]);
            store_rd!();
        }
        // The high halves of products: x86's one-operand multiply leaves
        // them in rdx, which holds `Exec` here: kept in r9 meanwhile.
        K::Mulh | K::Mulhu => {
            x!(mov r9, rdx ; mov rax, QWORD [rsi + rs1]);
            if op.kind == K::Mulh {
                x!(imul QWORD [rsi + rs2]);
            } else {
                x!(mul QWORD [rsi + rs2]);
            }
            x!(mov rax, rdx ; mov rdx, r9);
            store_rd!();
        }
        K::Div | K::Divu | K::Rem | K::Remu | K::Divw | K::Divuw | K::Remw | K::Remuw => {
            emit_division(a, op);
        }
        K::Lb | K::Lh | K::Lw | K::Ld | K::Lbu | K::Lhu | K::Lwu => {
            let size = match op.kind {
                K::Lb | K::Lbu => 1,
                K::Lh | K::Lhu => 2,
                K::Lw | K::Lwu => 4,
                _ => 8,
            };
            let miss = translate(a, rs1, imm, size, READ_TAG);
            misses.push((miss, i));
            match op.kind {
                K::Lb => x!(movsx rax, BYTE [rax]),
                K::Lbu => x!(movzx eax, BYTE [rax]),
                K::Lh => x!(movsx rax, WORD [rax]),
                K::Lhu => x!(movzx eax, WORD [rax]),
                K::Lw => x!(movsxd rax, DWORD [rax]),
                K::Lwu => x!(mov eax, DWORD [rax]),
                _ => x!(mov rax, QWORD [rax]),
            }
            store_rd!();
        }
        K::Sb | K::Sh | K::Sw | K::Sd => {
            let size = match op.kind {
                K::Sb => 1,
                K::Sh => 2,
                K::Sw => 4,
                _ => 8,
            };
            let miss = translate(a, rs1, imm, size, WRITE_TAG);
            misses.push((miss, i));
            x!(mov rcx, QWORD [rsi + rs2]);
            match op.kind {
                K::Sb => x!(mov BYTE [rax], cl),
                K::Sh => x!(mov WORD [rax], cx),
                K::Sw => x!(mov DWORD [rax], ecx),
                _ => x!(mov QWORD [rax], rcx),
            }
        }
        // `compiles` accepts no other kind.
        _ => unreachable!("jit: no template for {:?}", op.kind),
    }
}

/// Emits a division or remainder with RISC-V's results where x86's
/// `div`/`idiv` would trap (unprivileged spec 13.2): by zero, the quotient
/// is all ones and the remainder the dividend; for the signed overflow
/// `MIN / -1` the quotient is `MIN` (`neg` of `MIN` gives it) and the
/// remainder 0. The W forms work on the low 32 bits and sign-extend.
/// `rdx` (`Exec`) is kept in r9 while `div` uses it.
fn emit_division(a: &mut VecAssembler<X64Relocation>, op: &Op) {
    use OpKind as K;
    let rd = 8 * i32::from(op.rd);
    let rs1 = 8 * i32::from(op.rs1);
    let rs2 = 8 * i32::from(op.rs2);
    let wide = matches!(op.kind, K::Div | K::Divu | K::Rem | K::Remu);
    let signed = matches!(op.kind, K::Div | K::Rem | K::Divw | K::Remw);
    let remainder = matches!(op.kind, K::Rem | K::Remu | K::Remw | K::Remuw);
    let (by_zero, minus_one, done) = (
        a.new_dynamic_label(),
        a.new_dynamic_label(),
        a.new_dynamic_label(),
    );
    macro_rules! x {
        ($($t:tt)*) => { dynasm!(a ; .arch x64 ; $($t)*) };
    }
    if wide {
        x!(mov rax, QWORD [rsi + rs1] ; mov rcx, QWORD [rsi + rs2] ; test rcx, rcx ; jz =>by_zero);
        if signed {
            x!(cmp rcx, -1 ; je =>minus_one ; mov r9, rdx ; cqo ; idiv rcx);
        } else {
            x!(mov r9, rdx ; xor edx, edx ; div rcx);
        }
    } else {
        x!(mov eax, DWORD [rsi + rs1] ; mov ecx, DWORD [rsi + rs2] ; test ecx, ecx ; jz =>by_zero);
        if signed {
            x!(cmp ecx, -1 ; je =>minus_one ; mov r9, rdx ; cdq ; idiv ecx);
        } else {
            x!(mov r9, rdx ; xor edx, edx ; div ecx);
        }
    }
    // After `div`: the quotient in rax, the remainder in rdx.
    if remainder {
        x!(mov rax, rdx);
    }
    x!(mov rdx, r9 ; jmp =>done);
    if signed {
        x!(=>minus_one);
        if remainder {
            x!(xor eax, eax);
        } else if wide {
            x!(neg rax);
        } else {
            x!(neg eax);
        }
        x!(jmp =>done);
    }
    x!(=>by_zero);
    if !remainder {
        x!(mov rax, -1);
    }
    x!(=>done);
    if !wide {
        x!(movsxd rax, eax);
    }
    x!(mov QWORD [rsi + rd], rax);
}

/// Emits the TLB lookup of an aligned `size`-byte access at `x[rs1] + imm`
/// (mmu.rs, `Tlb::read_host`/`write_host`, in machine code): leaves the
/// host address in `rax`, or jumps to the returned label (to be bound to
/// the op's exit) when the entry's `tag` does not match.
fn translate(
    a: &mut VecAssembler<X64Relocation>,
    rs1: i32,
    imm: i32,
    size: i32,
    tag: i32,
) -> DynamicLabel {
    let miss = a.new_dynamic_label();
    // The tag an aligned access must match: the page address with the low
    // bits that must be zero for alignment kept (mmu.rs, `Tlb::tag_for`).
    let mask = !(PAGE_SIZE as i32 - 1) | (size - 1);
    dynasm!(a
        ; .arch x64
        ; mov rax, QWORD [rsi + rs1]
        ; add rax, imm
        ; mov rcx, rax
        ; shr rcx, PAGE_SHIFT
        ; and ecx, TLB_INDEX_MASK
        ; shl ecx, TLB_ENTRY_SHIFT
        ; mov r8, rax
        ; and r8, mask
        ; cmp r8, QWORD [r11 + rcx + tag]
        ; jne =>miss
        ; add rax, QWORD [r11 + rcx + ADDEND]
    );
    miss
}
