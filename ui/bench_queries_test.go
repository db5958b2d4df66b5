package ui

import (
	"context"
	"testing"

	"github.com/smtpscope/smtpscope/ui/backend"
)

// BenchmarkQueryPage: one page (200 rows) of representative queries
// straight from the index, to tell the index's share of BenchmarkSearchKey.
func BenchmarkQueryPage(b *testing.B) {
	ix := benchIndex(b)
	for _, q := range []string{"invoice", "from:*@evil-payload.example.com", "has:attachment status:failed", "ioc:evil-payload.example.com", "subject:\"wire transfer\" -status:sent", ""} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := backend.SearchIndex(context.Background(), ix, q, backend.SearchOptions{Limit: 200, Kind: backend.KindEmail}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
