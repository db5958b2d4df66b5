package api

import (
	"fmt"
	"strings"

	"github.com/smtpscope/smtpscope/core"
)

// ExtractAttachment finds an attachment's bytes in a raw message by
// analysing it again with core and keeping the part whose sha1 matches
// (for stores that do not archive attachments).
func ExtractAttachment(raw []byte, sha1 string) ([]byte, error) {
	sha1 = strings.ToLower(sha1)
	var found []byte
	opts := core.DefaultOptions()
	opts.ExtractIOCs = false
	opts.OnAttachment = func(a *core.Attachment, data []byte) {
		if found == nil && strings.ToLower(a.SHA1) == sha1 {
			found = append([]byte{}, data...)
		}
	}
	core.NewAnalyzer(opts).AnalyzeBytes(raw)
	if found == nil {
		return nil, fmt.Errorf("attachment %s: %w", sha1, ErrNotFound)
	}
	return found, nil
}
