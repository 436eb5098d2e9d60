// loop runs N getppid system calls and prints "<label> <ns per call>";
// under kgen vm --icount guest time is instructions. See process.sh.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	t0 := time.Now()
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	d := time.Since(t0)
	fmt.Printf("%s %.1f\n", os.Args[2], float64(d.Nanoseconds())/float64(n))
}
