package indicator

// GFPNames are the GFP_* constants an indicator may name: each is a macro
// of include/linux/gfp.h (5.10) or include/linux/gfp_types.h (6.1, 6.12)
// on every supported kernel, so the payload module passes the kernel's own
// values (TestGFPNamesInHeaders checks the headers). The masks and shifts
// that are no flags (__GFP_BITS_*, GFP_ZONEMASK) are left out.
var GFPNames = []string{
	"GFP_ATOMIC",
	"GFP_KERNEL",
	"GFP_KERNEL_ACCOUNT",
	"GFP_NOWAIT",
	"GFP_NOIO",
	"GFP_NOFS",
	"GFP_USER",
	"GFP_DMA",
	"GFP_DMA32",
	"GFP_HIGHUSER",
	"GFP_HIGHUSER_MOVABLE",
	"GFP_TRANSHUGE_LIGHT",
	"GFP_TRANSHUGE",
	"__GFP_DMA",
	"__GFP_HIGHMEM",
	"__GFP_DMA32",
	"__GFP_MOVABLE",
	"__GFP_RECLAIMABLE",
	"__GFP_HIGH",
	"__GFP_IO",
	"__GFP_FS",
	"__GFP_ZERO",
	"__GFP_DIRECT_RECLAIM",
	"__GFP_KSWAPD_RECLAIM",
	"__GFP_RECLAIM",
	"__GFP_WRITE",
	"__GFP_NOWARN",
	"__GFP_RETRY_MAYFAIL",
	"__GFP_NOFAIL",
	"__GFP_NORETRY",
	"__GFP_MEMALLOC",
	"__GFP_COMP",
	"__GFP_NOMEMALLOC",
	"__GFP_HARDWALL",
	"__GFP_THISNODE",
	"__GFP_ACCOUNT",
	"__GFP_NOLOCKDEP",
}
