//! A tiny driver for the C* compiler: `cargo run --example cstarc -- a.c b.c -o prog.elf`.
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut inputs = Vec::new();
    let mut output = PathBuf::from("a.out");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-o" {
            match args.next() {
                Some(path) => output = PathBuf::from(path),
                None => {
                    eprintln!("cstarc: -o needs a file name");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            inputs.push(PathBuf::from(arg));
        }
    }
    match sim::toolchain::cstar::compile_files(&inputs) {
        Ok(compiled) => {
            for w in &compiled.warnings {
                eprintln!("{w}");
            }
            if let Err(e) = std::fs::write(&output, &compiled.elf) {
                eprintln!("cstarc: cannot write {}: {e}", output.display());
                return ExitCode::FAILURE;
            }
            // qemu-riscv64 (like the kernel) only runs files marked executable.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&output, std::fs::Permissions::from_mode(0o755));
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}
