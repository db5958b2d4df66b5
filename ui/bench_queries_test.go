package ui

import (
	"context"
	"github.com/smtpscope/smtpscope/collector/service"
	"testing"

	"github.com/smtpscope/smtpscope/collector/api"
)

// BenchmarkQueryPage: one page (200 rows) of representative queries
// straight from the index, to tell the index's share of BenchmarkSearchKey.
func BenchmarkQueryPage(b *testing.B) {
	ix := benchIndex(b)
	for _, q := range []string{"invoice", "from:*@evil-payload.example.com", "has:attachment status:failed", "ioc:evil-payload.example.com", "subject:\"wire transfer\" -status:sent", ""} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := service.SearchIndex(context.Background(), ix, q, api.SearchOptions{Limit: 200, Kind: api.KindEmail}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
