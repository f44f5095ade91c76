package task

import (
	"fmt"
	"strings"
)

// The text forms of a task's data that the CLI and the mount's status files
// both show. They live here, with the data, because task is the one package
// both import (DESIGN §1: cmd → fs → task).

// Text is the progress for people, one line: "writing archive (step 2 of
// 3), 42.0%, 1.2 GiB of 3.0 GiB" (steps of nested levels joined by " / ";
// the bytes only when the step counts them).
func (p *Progress) Text() string {
	parts := make([]string, 0, len(p.Steps))
	for _, s := range p.Steps {
		parts = append(parts, fmt.Sprintf("%s (step %d of %d)", s.CurrentStep, s.Finished+1, s.Total))
	}
	s := strings.Join(parts, " / ") + fmt.Sprintf(", %.1f%%", p.Percentage)
	if p.BytesTotal > 0 {
		s += fmt.Sprintf(", %s of %s", HumanBytes(p.BytesDone), HumanBytes(p.BytesTotal))
	}
	return s
}

// HumanBytes writes n in binary units: "512 B", "1.5 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
