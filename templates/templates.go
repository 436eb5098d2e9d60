// Package templates holds kgen's embedded code templates and feature
// probes. It holds no logic beyond exposing them.
package templates

import "embed"

// FS holds every kind's templates (<kind>/*.tmpl), the shared ones
// (common/*.tmpl), the probe runtime (runtime/kgen_rt.h.tmpl) and the feature probes (features/*.c, features/*.sym).
//
//go:embed common runtime kretprobe otst process payload probetest features
var FS embed.FS
