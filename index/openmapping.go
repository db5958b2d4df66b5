package index

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/util"
)

// Opening a month index, bleve decodes the mapping stored in it (through
// its util.UnmarshalJSON) and builds the mapping's analyzers: some 11 kB
// of JSON whose nested decoders each validate their part again, about
// 2 ms and 5,700 allocations per month, the larger part of opening one.
// Those bytes are what bleve wrote from newMapping() when it created the
// month (json.Marshal, whose output is deterministic), so when a month
// holds exactly the bytes of this version's mapping they decode to that
// mapping: the process's one mapping (sharedMapping, built and marshalled
// once) is handed over instead, its analyzers already built. Any other
// bytes (a month written by another mapping version, which Open reports
// stale) are decoded as before.

// sharedMapping is newMapping(), built once per process, and its JSON as
// bleve stores it (nil if it does not marshal). Every Index and every
// month opened or created in the process use it: bleve only reads a
// mapping.
var sharedMapping = sync.OnceValues(func() (*mapping.IndexMappingImpl, []byte) {
	im := newMapping()
	b, err := json.Marshal(im)
	if err != nil {
		return im, nil
	}
	return im, b
})

func init() {
	decode := util.UnmarshalJSON
	util.UnmarshalJSON = func(data []byte, v any) error {
		return unmarshalKnownMapping(data, v, decode)
	}
}

// unmarshalKnownMapping sets *v to the shared mapping when v is a bleve
// mapping to decode and data is the shared mapping's JSON; everything
// else goes to decode.
func unmarshalKnownMapping(data []byte, v any, decode func([]byte, any) error) error {
	if p, ok := v.(**mapping.IndexMappingImpl); ok {
		if im, known := sharedMapping(); known != nil && bytes.Equal(data, known) {
			*p = im
			return nil
		}
	}
	return decode(data, v)
}
