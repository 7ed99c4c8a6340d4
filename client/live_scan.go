package client

// A minimal walker over one JSON object's top-level fields, for the live client's hot path: an
// `event` message is read for its seq, kind and at (and a load generator may look into its data)
// without building a map or copying the message. It allocates nothing. Full decoding
// (encoding/json) is kept for the rare messages: joined, bid_result, lot_result, error.

// eachField calls f(key, value) for every top-level field of the JSON object in b, in order; key
// is the raw key without quotes (escapes left as is), value the raw JSON value. It stops when f
// returns false. It returns false when b is not one well-formed object (as far as it looked).
func eachField(b []byte, f func(key, val []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		ke := skipString(b, i)
		if ke < 0 {
			return false
		}
		key := b[i+1 : ke-1]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		vs := skipWS(b, i+1)
		ve := skipValue(b, vs)
		if ve < 0 {
			return false
		}
		if !f(key, b[vs:ve]) {
			return true
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i = skipWS(b, i+1)
		default:
			return false
		}
	}
	return false
}

// fieldOf returns the raw value of the top-level field key of the object b (nil when absent).
func fieldOf(b []byte, key string) []byte {
	var out []byte
	eachField(b, func(k, v []byte) bool {
		if string(k) == key { // no allocation: the compiler compares in place
			out = v
			return false
		}
		return true
	})
	return out
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"', or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// rawInt parses a raw JSON integer (0 when it is not one).
func rawInt(v []byte) int64 {
	var n int64
	neg := false
	for i, c := range v {
		switch {
		case c == '-' && i == 0:
			neg = true
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
		default:
			if c == '.' || c == 'e' || c == 'E' {
				goto done
			}
			return 0
		}
	}
done:
	if neg {
		return -n
	}
	return n
}

// rawString returns a raw JSON string's bytes without the quotes (escapes not decoded), or nil.
func rawString(v []byte) []byte {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil
	}
	return v[1 : len(v)-1]
}

// RawField returns the raw JSON value of the top-level field key of the JSON object b, nil when
// absent; it allocates nothing (for load generators reading LiveEvent.Data on the hot path).
func RawField(b []byte, key string) []byte { return fieldOf(b, key) }

// RawInt parses a raw JSON integer value (0 when it is not one).
func RawInt(v []byte) int64 { return rawInt(v) }

// RawString returns a raw JSON string value without its quotes (escapes not decoded), or nil.
func RawString(v []byte) []byte { return rawString(v) }
