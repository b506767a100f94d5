//! VM groups: what runs in which VM, from the command line or a scenario
//! file, as one `Scenario` that `Simulator::load_scenario` loads.
//!
//! A VM is one `Kernel` with its own processes, pids, scheduler and id;
//! contexts of VM `v` use TLB context ids `(v << 32) | pid`. Within a VM,
//! each `-k KERNEL` starts a guest kernel under the innermost kernel so far
//! (the first one under the host), and each `-u PROG` loads a program under
//! the innermost kernel (the host if there is none):
//!
//! ```text
//! sim -u a.c --vm -k rr.c -u b.c --vm -u c.c
//!   vm 0: host ─ a.c
//!   vm 1: host ─ rr.c (kernel mode) ─ b.c
//!   vm 2: host ─ c.c
//! sim -k k1.c -k k2.c -u prog.c        (nesting, depth 2)
//!   vm 0: host ─ k1.c ─ k2.c ─ prog.c
//! ```
//!
//! A scenario file says the same, one line each (`#` starts a comment):
//!
//! ```text
//! user   programs/hello.c          # = -u programs/hello.c
//! vm                               # = --vm: the next VM starts
//! kernel programs/kernels/rr.c     # = -k programs/kernels/rr.c
//! user   programs/echo.c one two
//! ```

use std::fmt;
use std::path::Path;

/// One context to load: a program and its arguments (`args[0]` is the
/// program file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSpec {
    /// Kernel mode (`-k`): later contexts of the VM go under it.
    pub kernel: bool,
    pub args: Vec<String>,
}

/// The contexts of one VM, in load order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VmSpec {
    pub contexts: Vec<ContextSpec>,
}

/// What runs in which VM.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scenario {
    pub vms: Vec<VmSpec>,
}

/// A line of a scenario file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Scenario {
    /// The scenario of a command line's raw arguments (without the program
    /// name): `-u PROG ARGS...`, `-k KERNEL ARGS...` and `--vm`, in order;
    /// other options are skipped (clap has checked them), and an option
    /// ends the arguments of the program before it.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Scenario {
        let mut scenario = Scenario {
            vms: vec![VmSpec::default()],
        };
        let mut collecting = false;
        for arg in args {
            let context = |kernel, args| ContextSpec { kernel, args };
            let (kernel, inline) = if arg == "-u" || arg == "-k" {
                (arg == "-k", None)
            } else if let Some(rest) = (arg.starts_with("-u") || arg.starts_with("-k"))
                .then(|| &arg[2..])
                .filter(|r| !r.is_empty())
            {
                (arg.starts_with("-k"), Some(rest.to_string()))
            } else if arg == "--vm" {
                scenario.vms.push(VmSpec::default());
                collecting = false;
                continue;
            } else if arg.starts_with('-') && arg.len() > 1 {
                collecting = false;
                continue;
            } else {
                if collecting {
                    if let Some(c) = scenario.last_context() {
                        c.args.push(arg);
                    }
                }
                continue;
            };
            let vm = scenario.vms.last_mut().map(|v| &mut v.contexts);
            if let Some(contexts) = vm {
                contexts.push(context(kernel, inline.into_iter().collect()));
            }
            collecting = true;
        }
        scenario.prune();
        scenario
    }

    /// Parses a scenario file's text (see the module doc).
    ///
    /// # Errors
    /// The first line that is neither empty, a comment, `vm`, `user PROG
    /// [ARGS]` nor `kernel PROG [ARGS]`.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario = Scenario {
            vms: vec![VmSpec::default()],
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace().map(str::to_string);
            let Some(keyword) = words.next() else {
                continue;
            };
            let error = |message: String| ScenarioError {
                line: i + 1,
                message,
            };
            match keyword.as_str() {
                "vm" => {
                    if let Some(extra) = words.next() {
                        return Err(error(format!("'vm' takes no arguments, found '{extra}'")));
                    }
                    scenario.vms.push(VmSpec::default());
                }
                "user" | "kernel" => {
                    let args: Vec<String> = words.collect();
                    if args.is_empty() {
                        return Err(error(format!("'{keyword}' needs a program file")));
                    }
                    if let Some(vm) = scenario.vms.last_mut() {
                        vm.contexts.push(ContextSpec {
                            kernel: keyword == "kernel",
                            args,
                        });
                    }
                }
                other => {
                    return Err(error(format!(
                        "expected 'vm', 'user PROG [ARGS]' or 'kernel PROG [ARGS]', found '{other}'"
                    )))
                }
            }
        }
        scenario.prune();
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// A message naming the file and the line.
    pub fn read(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Scenario::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.vms.iter().all(|v| v.contexts.is_empty())
    }

    fn last_context(&mut self) -> Option<&mut ContextSpec> {
        self.vms.last_mut()?.contexts.last_mut()
    }

    /// Drops contexts without a program (`-u` at the end of the line) and
    /// VMs without contexts other than the first.
    fn prune(&mut self) {
        for vm in &mut self.vms {
            vm.contexts.retain(|c| !c.args.is_empty());
        }
        let mut first = true;
        self.vms
            .retain(|v| std::mem::take(&mut first) || !v.contexts.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn spec(kernel: bool, line: &str) -> ContextSpec {
        ContextSpec {
            kernel,
            args: args(line),
        }
    }

    #[test]
    fn the_command_line_groups_programs_into_vms() {
        let s = Scenario::from_args(args(
            "-m 8 -u a.c x y --vm -k rr.c -u b.c --stats --vm -uc.c",
        ));
        assert_eq!(
            s.vms,
            vec![
                VmSpec {
                    contexts: vec![spec(false, "a.c x y")]
                },
                VmSpec {
                    contexts: vec![spec(true, "rr.c"), spec(false, "b.c")]
                },
                VmSpec {
                    contexts: vec![spec(false, "c.c")]
                },
            ]
        );
    }

    #[test]
    fn a_scenario_file_says_the_same() {
        let text = "# two VMs\nuser a.c x y\nvm\nkernel rr.c   # guest kernel\nuser b.c\n";
        let s = Scenario::parse(text).unwrap();
        assert_eq!(
            s,
            Scenario::from_args(args("-u a.c x y --vm -k rr.c -u b.c"))
        );
        let e = Scenario::parse("user a.c\nprocess b.c\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found 'process'"), "{e}");
        assert!(Scenario::parse("kernel\n").is_err());
    }
}
