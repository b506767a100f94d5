//! `--trace` output is part of the user interface: snapshot it for a small
//! program (every instruction, disassembled, with the register it changed).

#[test]
fn trace_of_hello_s() {
    let source = std::fs::read_to_string("programs/hello.s").expect("programs/hello.s");
    let elf = sim::toolchain::asm::assemble(&source, "hello.s").expect("assembles");
    let mut simulator = sim::Simulator::builder()
        .capture_output(true)
        .trace(sim::Trace {
            instructions: true,
            ..sim::Trace::default()
        })
        .build();
    simulator
        .load_elf(&elf, &["hello".to_string()])
        .expect("loads");
    let outcome = simulator.run();
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(simulator.stdout(), b"Hello, world!\n");
    let trace = String::from_utf8_lossy(simulator.stderr()).into_owned();
    // One line per instruction executed (9: `la` is two), each naming pc and instruction.
    assert_eq!(
        trace.lines().filter(|l| l.starts_with("[1] 0x")).count(),
        9,
        "{trace}"
    );
    insta::assert_snapshot!(trace);
}

#[test]
fn trace_from_the_cli_goes_to_stderr() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-u", "programs/hello.s", "--trace"])
        .output()
        .expect("runs sim");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"Hello, world!\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ecall"), "{stderr}");
    assert!(stderr.contains("a7=0x40"), "{stderr}");
}
