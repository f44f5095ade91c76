package task

import (
	"fmt"
	"strings"
)

// The text forms of a task's data that the CLI and the mount's status files
// both show. They live here, with the data, because task is the one package
// both import (DESIGN §1: cmd → fs → task).

// Text is the progress for people, one line: "writing archive (step 2 of
// 3), 42.0%, 1.2 GiB of 3.0 GiB, 12.5 MiB/s, 2m30s left" (steps of nested
// levels joined by " / "; the bytes only when the step counts them; the
// rate and the time left only while the task is processing and they are
// known).
func (p *Progress) Text() string {
	s := p.StepText() + fmt.Sprintf(", %.1f%%", p.Percentage)
	if p.BytesTotal > 0 {
		s += fmt.Sprintf(", %s of %s", HumanBytes(p.BytesDone), HumanBytes(p.BytesTotal))
	}
	if r := p.RateText(); r != "" {
		s += ", " + r
	}
	return s
}

// StepText is the steps part of Text: "writing archive (step 2 of 3)".
func (p *Progress) StepText() string {
	parts := make([]string, 0, len(p.Steps))
	for _, s := range p.Steps {
		parts = append(parts, fmt.Sprintf("%s (step %d of %d)", s.CurrentStep, s.Finished+1, s.Total))
	}
	return strings.Join(parts, " / ")
}

// RateText is the rate part of Text: "12.5 MiB/s, 2m30s left", "0 B/s"
// (stalled: no time left to tell), or "" when there is no rate.
func (p *Progress) RateText() string {
	if p.BytesPerSecond == nil {
		return ""
	}
	s := HumanBytes(*p.BytesPerSecond) + "/s"
	if p.SecondsRemaining != nil {
		s += ", " + HumanSeconds(*p.SecondsRemaining) + " left"
	}
	return s
}

// HumanSeconds writes a time left for people: "45s", "2m05s", "1h02m".
func HumanSeconds(secs int64) string {
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", max(secs, 0))
	case secs < 3600:
		return fmt.Sprintf("%dm%02ds", secs/60, secs%60)
	}
	return fmt.Sprintf("%dh%02dm", secs/3600, secs%3600/60)
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
