// loop runs N getppid system calls and prints "<label> <ns per call>";
// under kgen vm --icount guest time is instructions. The process kind's
// part of make bench (guest.sh) runs it.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loop N LABEL")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "loop: N must be a positive number")
		os.Exit(2)
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	d := time.Since(t0)
	fmt.Printf("%s %.2f\n", os.Args[2], float64(d.Nanoseconds())/float64(n))
}
