package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		max  int
		want int
	}{
		{"", "", 2, 0},
		{"vfs_read", "vfs_read", 2, 0},
		{"vfs_raed", "vfs_read", 2, 2},
		{"vfs_rea", "vfs_read", 2, 1},
		{"vfs_readx", "vfs_read", 2, 1},
		{"kitten", "sitting", 3, 3},
		{"kitten", "sitting", 2, 3}, // over max: max+1
		{"probes", "probe", 2, 1},
		{"a", "abcdefgh", 2, 3},        // lengths alone exceed max
		{"abcdefgh", "hgfedcba", 3, 4}, // every row over max early
		{"maxactive", "max_active", 2, 1},
		{"", "abc", 5, 3},
		{"abcdef", "uvwxyz", 2, 3},
	} {
		if got := Distance(tt.a, tt.b, tt.max); got != tt.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.max, got, tt.want)
		}
		if got := Distance(tt.b, tt.a, tt.max); got != tt.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d (not symmetric)", tt.b, tt.a, tt.max, got, tt.want)
		}
	}
}
