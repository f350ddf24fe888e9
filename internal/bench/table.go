//go:build unix

package bench

import (
	"fmt"
	"io"
	"sort"
)

// Print writes the report as a Markdown table, ready for the README.
func Print(w io.Writer, r *Report) {
	fmt.Fprintf(w, "Machine: %s\n\n", r.Machine)
	fmt.Fprintln(w, "| figure | cardbridge | raw / baseline | ratio | target | met |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- | --- |")
	for _, row := range r.Rows {
		raw, ratio, met := "", "", ""
		if row.Raw != 0 {
			raw = fmt.Sprintf("%.3g", row.Raw)
		}
		if row.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", row.Ratio)
		}
		if row.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*row.Met]
		}
		fmt.Fprintf(w, "| %s | %.3g | %s | %s | %s | %s |\n", row.Name, row.API, raw, ratio, row.Target, met)
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w)
	for _, k := range keys {
		fmt.Fprintf(w, "- %s: %.4g\n", k, r.Extra[k])
	}
}
