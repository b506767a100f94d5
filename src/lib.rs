//! `sim`: an educational OS-kernel simulator.
pub mod abi;
pub mod emu;
pub mod toolchain;
