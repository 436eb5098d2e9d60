// Package loader inserts and removes kgen-built kernel modules and streams
// their trace events.
//
// Load checks a module's vermagic against the running kernel, mounts debugfs
// and tracefs when they are missing, inserts the module with finit_module
// (init_module on kernels without it), creates a private tracefs instance
// "kgen_<name>" and enables the module's event system in it. Every step is
// undone, in reverse, when a later one fails. The outcome is recorded in
// <run>/kgen/<name>.json so that Unload, in another process, knows exactly
// what to undo. Trace reads the instance's trace_pipe and parses its lines.
//
// All paths and syscalls go through Options so the rollback logic can be
// unit-tested without a kernel; the kernel paths themselves are exercised by
// the VM tests (KGEN_IN_VM=1).
package loader
