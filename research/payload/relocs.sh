#!/usr/bin/env bash
# relocs.sh MODULE.ko...: which allocation/free functions a module calls
# directly, from its relocations, and how many of those sites are tail calls
# (jmp: the callee then sees the caller's caller as its return address).
# x86_64 objects only.
set -euo pipefail
re='^(__kmalloc|__kmalloc_node|__kmalloc_track_caller|kmalloc_trace|kmalloc_node_trace|kmalloc_large|kmalloc_large_node|kmem_cache_alloc_trace|kmem_cache_alloc_node_trace|kmalloc_order_trace|__kmalloc_noprof|__kmalloc_node_noprof|__kmalloc_cache_noprof|__kmalloc_cache_node_noprof|__kmalloc_large_noprof|__kmalloc_large_node_noprof|__kmalloc_node_track_caller_noprof|kmem_cache_alloc|kmem_cache_alloc_node|kmem_cache_alloc_lru|kmem_cache_alloc_noprof|kmem_cache_alloc_node_noprof|kmem_cache_alloc_lru_noprof|krealloc|krealloc_noprof|kmemdup|kmemdup_noprof|kstrdup|kstrndup|kmemdup_nul|kvmalloc_node|__kvmalloc_node_noprof|vmalloc|vzalloc|vmalloc_noprof|vzalloc_noprof|__get_free_pages|get_zeroed_page|get_zeroed_page_noprof|bitmap_zalloc|bitmap_alloc|devm_kmalloc|kfree|kfree_sensitive|kvfree|kmem_cache_free|vfree|free_pages|bitmap_free)$'
for f in "$@"; do
	objdump -dr --no-show-raw-insn "$f" | awk -v re="$re" -v mod="$(basename "$f")" '
	/^[ \t]+[0-9a-f]+:\t(call|jmp)/ { op = $2; pending = 1; next }
	/R_X86_64_(PLT|PC)32/ {
		if (pending) {
			s = $3; sub(/[-+]0x[0-9a-f]+$/, "", s)
			if (s ~ re) { if (op == "call") c[s]++; else j[s]++; seen[s] = 1 }
		}
		pending = 0; next
	}
	{ pending = 0 }
	END {
		line = ""
		for (s in seen) {
			line = line " " s "=" (c[s] + 0)
			if (j[s]) line = line "+" j[s] "jmp"
		}
		print mod ":" line
	}'
done | while IFS=: read -r m rest; do
	# one line per module, symbols sorted
	echo "$m:$(echo $rest | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//; s/^/ /')"
done
