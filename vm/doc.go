// Package vm boots a Linux kernel in qemu with an initramfs it assembles
// itself, runs one shell command in the guest as root, streams the
// command's output and returns its exit status. It is the `kgen vm`
// command and the backbone of kgen's kernel tests: many load, trace and
// unload scenarios run in one boot per kernel.
//
// # What the guest is
//
// The initramfs is a newc cpio archive written by this package: Debian's
// busybox-static as /bin/busybox (and its applets as symlinks), kgen's own
// static binary as /bin/kgen, the files given with Config.Adds, the
// command, and a generated /init script. /init mounts proc, sysfs and
// devtmpfs only: never debugfs or tracefs, which `kgen load` must mount
// itself and its tests check that it does. It exports Config.Env and
// KGEN_IN_VM=1, runs the command with `sh -c` in /root, writes an exit
// marker and powers the guest off. Nothing is cached on disk; the archive
// lives in a temporary file for the duration of the boot.
//
// # Design choices
//
// Our own cpio writer, not u-root's pkg/cpio or hugelgupf/vmtest: the
// newc format is a 110-byte ASCII header per entry and four-byte padding,
// under two hundred lines with comments and checks. u-root's package would pull a
// large module graph into a tool whose users build it on embedded
// engineers' machines, and vmtest brings its own guest agent, u-root
// initramfs builder and 9p/virtio plumbing, none of which we need. The
// writer fixes every field that could vary (inodes, mtimes, owners), so
// the same inputs give the same archive.
//
// Serial ports, not 9p or virtio: Debian's kernels build 9p, virtio-blk,
// virtio-console and virtio-net as modules, not into the image, and a
// minimal initramfs has no module tree to load them from. The 8250 UART
// driver is built in on every kernel we target (4 ports at run time).
// qemu's pc machine gets two: ttyS0 is the kernel console, ttyS1 carries
// the command's stdout and stderr, so command output is clean and the
// console is kept whole for panic detection. Files go in through the
// initramfs; nothing needs to come back but output. Measured: about
// 60 KB/s through ttyS1 under TCG, plenty for test output and trace
// events, not for bulk data.
//
// The exit status travels in-band on ttyS1 after the command's output as
// "\x00KGEN-VM-EXIT=<n>\x00" (stripped before Stdout sees it). Because the
// UART is a FIFO, reading the marker proves all output before it arrived;
// /init closes the port (which waits for the UART to drain) before it
// powers off.
//
// The kernel console is scanned line by line: "Kernel panic" is a panic,
// "BUG: ", "kernel BUG at", "Oops", "general protection fault" and
// "Unable to handle kernel" an oops, "WARNING: " a warning, and the first
// lines of the debug kernel's checkers (KASAN's "BUG: KASAN: ", lockdep's
// "possible circular locking dependency", "inconsistent lock state" and
// the rest, "sleeping function called from invalid context", DEBUG_LIST's
// "list_add corruption", "ODEBUG: ") a report (ErrReport). Any of them
// fails the run with a *GuestError holding the console tail, even if the
// command exited 0, because kgen's tests require a clean dmesg. Lockdep
// turns itself off at its first report, or when one of its tables fills,
// and checks nothing after that: on a kernel with lockdep, /init reads
// debug_locks from /proc/lockdep_stats after the command and, if it is 0,
// writes "kgen vm: lockdep turned itself off" to the kernel log, which is
// a report too. The
// kernel runs with loglevel=5 so that oopses and WARN()s, printed at the
// default level 4, reach the console, and with panic=-1 plus qemu's
// -no-reboot so a panic ends qemu at once.
//
// qemu uses TCG with -cpu max, or KVM with -cpu host when /dev/kvm is
// usable and Icount is off (Config.Accel "auto"). /init writes a marker
// on the output port before the command, its sign of life; a KVM guest
// that has not done so within 30 s (many times what a healthy boot needs)
// is killed and booted again under TCG, and the stall is remembered until
// the host reboots. On a host with paravirtual KVM (kvm-pvm) all three
// Debian kernels stalled in early boot for good, the host logging
// "kvm-pvm: INTERNAL_ERROR in batch emul", so trusting /dev/kvm alone
// made every boot time out. Booting the uncompressed ELF vmlinux through
// its PVH entry saves the 9-13 s the guest spends decompressing a bzImage
// under TCG; a boot to the command's exit then takes 3-5 s on the Debian
// 5.10, 6.1 and 6.12 kernels. Icount adds -icount shift=0 and -seed 1 for
// repeatable instruction counts; qemu 7.2 hangs bringing up a second CPU
// under -icount, so Icount needs SMP 1.
//
// SMP guests under TCG run with -accel tcg,thread=single (all vCPUs
// interleaved on one host thread) unless Config.MTTCG is set. qemu 7.2's
// multi-threaded TCG mishandles cross-modifying code: arming a kprobe, or
// patching a static key, while another vCPU runs the patched code oopsed
// 14 of 17 -smp 2 boots measured on 5.10, 6.1 and 6.12, and every boot on
// 6.12 (a jump to address 0, or "Unrecoverable kprobe"). Single-threaded, it was 0 of 14,
// at about 1.7 times the run time. After a panic, oops or warning the run
// has failed, and the guest gets a grace period of 15 s, not the whole
// timeout, to finish.
//
// # arm64 guests
//
// The architecture comes from the kernel file (detectArch): an ELF's
// machine, or the arm64 Image header's magic ("ARM\x64" at offset 56),
// also inside a gzipped vmlinuz or an EFI zboot image. An aarch64 guest
// runs in qemu-system-aarch64 -M virt with -cpu cortex-a57 under TCG (max
// emulates pointer authentication, which costs at every function entry).
// The virt machine has one PL011 UART, ttyAMA0, which stays the kernel
// console; the command's output goes through virtio-console (/dev/hvc0)
// on virtio-mmio, which Debian's arm64 kernel builds as modules: /init
// loads virtio_mmio.ko and virtio_console.ko (from vm-modules/ next to the
// kernel, where scripts/fetch-kernels.sh puts them, or Config.Modules)
// before it opens the port. The busybox defaults to the one next to the
// kernel, and /bin/kgen to "<executable>-arm64" when it exists; both must
// be arm64 static binaries (checked). A Debian 6.1 arm64 boot to the
// command's exit takes about 15-30 s under TCG (see docs/arm64.md).
package vm
