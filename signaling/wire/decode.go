package wire

import (
	"bytes"
	"encoding/json"
	"errors"
)

var errMore = errors.New("one JSON object per message")

// decodeOne decodes data, which must hold exactly one JSON value, into v.
func decodeOne(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errMore
	}
	return nil
}
