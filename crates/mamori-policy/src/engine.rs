//! The one place that talks to regorus: compiling a policy once, checking it
//! against its contract, and evaluating the prepared form.
//!
//! A policy is parsed, checked and compiled exactly once ([`Prepared::new`]):
//! into regorus's register VM program (RVM) when regorus can compile it, else
//! into a prepared interpreter engine. Both forms are immutable and shared
//! (`Arc`); an evaluation runs on a VM owned by the calling thread (reused
//! for the next evaluation of the same policy) or on an engine clone, so
//! concurrent evaluations on different tokio workers share no mutable state.
//!
//! Measured on the default SNP policy (see the `policy` bench): the VM is
//! about 5× faster than the interpreter (≈ 24 µs against ≈ 140 µs; ≈ 1.3 ms
//! when rebuilt per call), and its instruction budget bounds a hostile policy
//! deterministically.

use crate::error::PolicyError;
use crate::Limits;
use regorus::rvm::vm::{RegoVM, VmError};
use regorus::utils::limits::ExecutionTimerConfig;
use std::cell::RefCell;
use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// The file name regorus reports in its messages for the uploaded source.
pub(crate) const SOURCE_NAME: &str = "policy.rego";
/// A module we add next to the policy: one entry rule that gathers the
/// contract's rules into one object, so one evaluation answers everything.
const ENTRY_SOURCE_NAME: &str = "mamori-entry.rego";
const ENTRY_PACKAGE: &str = "mamori_entry";
const ENTRY_RULE: &str = "data.mamori_entry.out";

/// What a kind of policy must provide.
pub(crate) struct Contract {
    /// Dotted package name, e.g. `mamori.appraisal`.
    pub package: &'static str,
    /// Rules that must be declared; refused at compile time otherwise.
    pub required: &'static [&'static str],
    /// Rules that are read when the policy declares them.
    pub optional: &'static [&'static str],
}

/// A policy compiled against its contract, with its source, version id
/// (SHA-256 of the source) and limits: what both policy kinds hold.
pub(crate) struct CompiledSource {
    pub(crate) prepared: Prepared,
    pub(crate) digest: String,
    pub(crate) source: Box<str>,
    pub(crate) limits: Limits,
}

impl CompiledSource {
    pub(crate) fn new(
        source: &str,
        contract: &Contract,
        limits: Limits,
    ) -> Result<CompiledSource, PolicyError> {
        Ok(CompiledSource {
            prepared: Prepared::new(source, contract, &limits)?,
            digest: crate::digest(source),
            source: source.into(),
            limits,
        })
    }
}

/// A policy compiled once and ready to evaluate any number of times.
#[derive(Clone)]
pub(crate) struct Prepared {
    backend: Backend,
    /// The prepared interpreter is kept next to the VM program so that the
    /// two forms can be compared (tests, and the hidden
    /// `evaluate_json_interpreted` diagnostics).
    engine: regorus::Engine,
    max_instructions: usize,
    timer: ExecutionTimerConfig,
}

#[derive(Clone)]
enum Backend {
    /// regorus's compiled form: a register-VM program.
    Vm(Arc<regorus::rvm::Program>),
    /// The prepared interpreter, for policies the VM compiler does not take.
    Interpreter,
}

impl Prepared {
    pub(crate) fn new(
        source: &str,
        contract: &Contract,
        limits: &Limits,
    ) -> Result<Prepared, PolicyError> {
        // regorus is a large parser/compiler; a bug there must become an
        // error for this one upload, never a crashed server.
        catch_unwind(AssertUnwindSafe(|| {
            Self::new_inner(source, contract, limits)
        }))
        .unwrap_or_else(|_| {
            Err(PolicyError::Compile {
                message: "the Rego compiler failed unexpectedly on this policy".into(),
                line: None,
            })
        })
    }

    fn new_inner(
        source: &str,
        contract: &Contract,
        limits: &Limits,
    ) -> Result<Prepared, PolicyError> {
        let mut engine = new_engine(limits, false);
        if let Err(v1_error) = engine.add_policy(SOURCE_NAME.into(), source.into()) {
            // Rego v1 is the default. Policies written for OPA < 1.0 (rules
            // without `if`, as older key-broker policies are) are accepted as
            // v0 when, and only when, they parse as v0; otherwise the v1
            // message is the one to show.
            engine = new_engine(limits, true);
            if engine
                .add_policy(SOURCE_NAME.into(), source.into())
                .is_err()
            {
                return Err(compile_error(&v1_error));
            }
        }

        let packages = engine
            .get_policy_package_components()
            .map_err(|e| compile_error(&e))?;
        let found = packages
            .first()
            .map(|p| p.components.join("."))
            .unwrap_or_default();
        if found != contract.package {
            return Err(PolicyError::WrongPackage {
                expected: contract.package,
                found,
            });
        }

        let declared = |rule: &str| -> Result<bool, PolicyError> {
            engine
                .has_declared_rule_rooted_at(SOURCE_NAME, rule)
                .map_err(|e| compile_error(&e))
        };
        for rule in contract.required {
            if !declared(rule)? {
                return Err(PolicyError::MissingRule {
                    package: contract.package,
                    rule,
                });
            }
        }

        // Each contract rule is wrapped in a set that holds its value when it
        // is defined and is empty otherwise, so one complete rule `out`
        // carries all of them and an undefined rule cannot make `out`
        // undefined. Rules the policy does not declare are left out, since
        // referring to them would be an error.
        let mut entry = format!("package {ENTRY_PACKAGE}\nimport rego.v1\n");
        let mut members = Vec::new();
        for rule in contract.required.iter().chain(contract.optional) {
            if declared(rule)? {
                entry.push_str(&format!(
                    "{rule} contains v if {{ v := data.{}.{rule} }}\n",
                    contract.package
                ));
                members.push(format!("\"{rule}\": {rule}"));
            }
        }
        entry.push_str(&format!("out := {{{}}}\n", members.join(", ")));
        engine
            .add_policy(ENTRY_SOURCE_NAME.into(), entry)
            .map_err(|e| compile_error(&e))?;

        // Prepare now (type-check, schedule): errors that regorus reports
        // only at preparation (unsafe variables, unknown functions, rule
        // conflicts it can see statically) surface at upload time, and the
        // engine every evaluation clones is already prepared.
        let compiled = engine
            .compile_with_entrypoint(&ENTRY_RULE.into())
            .map_err(|e| compile_error(&e))?;

        // The VM compiler covers less of Rego than the interpreter; a policy
        // it does not take still works, on the interpreter.
        let backend = match regorus::languages::rego::compiler::Compiler::compile_from_policy(
            &compiled,
            &[ENTRY_RULE],
        ) {
            Ok(program) => Backend::Vm(program),
            Err(_) => Backend::Interpreter,
        };
        Ok(Prepared {
            backend,
            engine,
            max_instructions: limits.max_instructions,
            timer: timer_config(limits),
        })
    }

    /// Whether this policy runs on regorus's compiled (VM) form.
    pub(crate) fn is_compiled(&self) -> bool {
        matches!(self.backend, Backend::Vm(_))
    }

    /// Evaluate the entry rule over `input`. Returns an object from each
    /// declared contract rule's name to a set holding its value, or empty
    /// when the rule is undefined for this input.
    pub(crate) fn eval(&self, input: regorus::Value) -> Result<regorus::Value, PolicyError> {
        self.eval_with(input, false)
    }

    /// Evaluate on the interpreter even when a VM program exists.
    pub(crate) fn eval_interpreted(
        &self,
        input: regorus::Value,
    ) -> Result<regorus::Value, PolicyError> {
        self.eval_with(input, true)
    }

    fn eval_with(
        &self,
        input: regorus::Value,
        interpreter: bool,
    ) -> Result<regorus::Value, PolicyError> {
        let backend = if interpreter {
            &Backend::Interpreter
        } else {
            &self.backend
        };
        catch_unwind(AssertUnwindSafe(|| match backend {
            Backend::Vm(program) => with_vm(program, |vm| {
                vm.set_max_instructions(self.max_instructions);
                vm.set_execution_timer_config(Some(self.timer));
                vm.set_input(input);
                vm.execute().map_err(vm_error)
            }),
            Backend::Interpreter => {
                let mut engine = self.engine.clone();
                engine.set_input(input);
                engine.eval_rule(ENTRY_RULE.into()).map_err(eval_error)
            }
        }))
        .unwrap_or_else(|_| {
            Err(PolicyError::Evaluation(
                "the Rego evaluator failed unexpectedly".into(),
            ))
        })
    }
}

/// VMs kept per thread, each loaded with one program: setting up a VM and
/// loading a program costs about a quarter of a whole evaluation of the
/// default SNP policy, so a worker thread reuses its VM for the next
/// evaluation of the same policy. Each entry holds its program's `Arc`, so a
/// program's address cannot be reused by another while it is cached.
const VMS_PER_THREAD: usize = 16;

thread_local! {
    static VMS: RefCell<Vec<(Arc<regorus::rvm::Program>, RegoVM)>> = const { RefCell::new(Vec::new()) };
}

fn with_vm<T>(
    program: &Arc<regorus::rvm::Program>,
    f: impl FnOnce(&mut RegoVM) -> Result<T, PolicyError>,
) -> Result<T, PolicyError> {
    // Take the VM out of the cache while it runs: a panic inside regorus then
    // drops that VM instead of leaving a half-run one for the next request.
    let cached = VMS.with(|vms| {
        let mut vms = vms.borrow_mut();
        let i = vms.iter().position(|(p, _)| Arc::ptr_eq(p, program))?;
        Some(vms.swap_remove(i))
    });
    let (program, mut vm) = match cached {
        Some(entry) => entry,
        None => {
            let mut vm = RegoVM::new();
            vm.load_program(program.clone());
            // The interpreter's `data` is an empty object; give the VM the
            // same so both forms evaluate a policy alike.
            vm.set_data(regorus::Value::new_object())
                .map_err(vm_error)?;
            (program.clone(), vm)
        }
    };
    let result = f(&mut vm);
    VMS.with(|vms| {
        let mut vms = vms.borrow_mut();
        if vms.len() >= VMS_PER_THREAD {
            vms.remove(0);
        }
        vms.push((program, vm));
    });
    result
}

fn timer_config(limits: &Limits) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: limits.max_eval_time,
        // Reading the clock every 16 work units keeps the overrun of a
        // hostile loop small while costing nothing measurable.
        check_interval: NonZeroU32::MIN.saturating_add(15),
    }
}

fn new_engine(limits: &Limits, rego_v0: bool) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(rego_v0);
    engine.set_gather_prints(false);
    engine.set_execution_timer_config(timer_config(limits));
    engine
}

/// The 1-based line in the uploaded source from a regorus message, which
/// reads `policy.rego:LINE:COL: error: …`.
fn line_of(message: &str) -> Option<u32> {
    let rest = &message[message.find(SOURCE_NAME)? + SOURCE_NAME.len()..];
    let rest = rest.strip_prefix(':')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn compile_error(e: &anyhow::Error) -> PolicyError {
    let message = format!("{e:#}");
    PolicyError::Compile {
        line: line_of(&message),
        message,
    }
}

fn vm_error(e: VmError) -> PolicyError {
    match e {
        VmError::InstructionLimitExceeded { .. }
        | VmError::TimeLimitExceeded { .. }
        | VmError::MemoryLimitExceeded { .. } => PolicyError::LimitExceeded(e.to_string()),
        e => PolicyError::Evaluation(e.to_string()),
    }
}

fn eval_error(e: anyhow::Error) -> PolicyError {
    if let Some(limit) = e.downcast_ref::<regorus::LimitError>() {
        return PolicyError::LimitExceeded(limit.to_string());
    }
    PolicyError::Evaluation(format!("{e:#}"))
}

/// The value of contract rule `name` in the output of [`Prepared::eval`]:
/// `None` when the policy does not declare it or it is undefined.
pub(crate) fn output<'a>(out: &'a regorus::Value, name: &str) -> Option<&'a regorus::Value> {
    match out {
        regorus::Value::Object(o) => match o.get(&regorus::Value::from(name)) {
            Some(regorus::Value::Set(s)) => s.iter().next(),
            _ => None,
        },
        _ => None,
    }
}
