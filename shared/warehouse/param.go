package warehouse

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
)

// ParseValue parses p.Value according to p.Type and returns it as the Go
// value the BigQuery client uses for that type: civil.Date (DATE), string
// (STRING), int64 (INT64), float64 (FLOAT64), bool (BOOL), *big.Rat
// (NUMERIC, BIGNUMERIC), time.Time in UTC (TIMESTAMP), civil.DateTime
// (DATETIME), civil.Time (TIME) or []byte (BYTES: the text's bytes). Type names are case-insensitive and
// legacy aliases are accepted (see CanonicalType); "" means STRING. Errors
// name the parameter and the expected format; implementations report them
// as InvalidArgument.
func (p Param) ParseValue() (any, error) {
	bad := func(format string) error {
		return fmt.Errorf("query parameter @%s: %s value %q is not %s", p.Name, p.typeName(), p.Value, format)
	}
	v := strings.TrimSpace(p.Value)
	switch p.typeName() {
	case "STRING":
		return p.Value, nil
	case "BYTES":
		return []byte(p.Value), nil
	case "DATE":
		d, err := civil.ParseDate(v)
		if err != nil {
			return nil, bad("a date (YYYY-MM-DD)")
		}
		return d, nil
	case "INT64":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		return n, nil
	case "FLOAT64":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, bad("a number")
		}
		return f, nil
	case "BOOL":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad("a boolean (true or false)")
		}
		return b, nil
	case "NUMERIC", "BIGNUMERIC":
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			return nil, bad("a decimal number")
		}
		return r, nil
	case "TIMESTAMP":
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, bad("a timestamp (RFC 3339 or YYYY-MM-DD HH:MM:SS[+zone])")
	case "DATETIME":
		dt, err := civil.ParseDateTime(strings.Replace(v, " ", "T", 1))
		if err != nil {
			return nil, bad("a datetime (YYYY-MM-DD HH:MM:SS)")
		}
		return dt, nil
	case "TIME":
		t, err := civil.ParseTime(v)
		if err != nil {
			return nil, bad("a time (HH:MM:SS)")
		}
		return t, nil
	}
	return nil, fmt.Errorf("query parameter @%s: type %q is not supported (use DATE, STRING, INT64, FLOAT64, NUMERIC, BOOL, TIMESTAMP, DATETIME, TIME or BYTES)", p.Name, p.Type)
}

func (p Param) typeName() string {
	if strings.TrimSpace(p.Type) == "" {
		return "STRING"
	}
	return CanonicalType(p.Type)
}
