//! `sim`: an educational OS-kernel simulator.
pub mod abi;
pub mod emu;
pub mod hypervisor;
pub mod kernel;
pub mod shm;
pub mod simulator;
pub mod toolchain;
pub mod vmshm;

pub use simulator::{Event, RunOutcome, Simulator, SimulatorBuilder};
