package shredder

import (
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/querytext"
)

// GroupBy returns the column names of a query's GROUP BY clause, lexed
// with querytext (so comments, strings and identifiers such as
// rate_limited are read as BigQuery reads them, not cut by a regular
// expression as upstream does — reference shredder-mitigation.md §3.1).
//
// The clause is the last GROUP BY of the outermost query (paren depth 0);
// when the outermost query has none, the textually last GROUP BY (one in a
// CTE, as upstream takes it). A column is a plain name, a qualified name
// (t.a gives a) or a backtick-quoted name. Upstream's accepted-but-broken
// elements are rejected here with the reason: GROUP BY ALL (any case), an
// ordinal (1, 2, 3), an expression (DATE(ts)), ROLLUP/CUBE/GROUPING SETS,
// and an empty element. A query without GROUP BY is an error too.
func GroupBy(sql string) ([]string, error) {
	all, err := querytext.Tokenize(sql)
	if err != nil {
		return nil, fmt.Errorf("read query: %w", err)
	}
	toks := all[:0:0]
	for _, t := range all {
		if t.Kind != querytext.Comment && !t.Kind.IsJinja() {
			toks = append(toks, t)
		}
	}
	last, lastTop := -1, -1
	depth := 0
	for i, t := range toks {
		switch {
		case t.IsPunct("("), t.IsPunct("["):
			depth++
		case t.IsPunct(")"), t.IsPunct("]"):
			depth--
		case t.IsKeyword("GROUP") && i+1 < len(toks) && toks[i+1].IsKeyword("BY"):
			last = i
			if depth == 0 {
				lastTop = i
			}
		}
	}
	if lastTop >= 0 {
		last = lastTop
	}
	if last < 0 {
		return nil, fmt.Errorf("the query has no GROUP BY: mitigation needs the dimensions it aggregates by")
	}
	var items [][]querytext.Token
	var cur []querytext.Token
	depth = 0
loop:
	for _, t := range toks[last+2:] {
		if depth == 0 {
			switch {
			case t.IsPunct(","):
				items = append(items, cur)
				cur = nil
				continue
			case t.IsPunct(")"), t.IsPunct(";"), t.IsPunct("]"):
				break loop
			case t.Kind == querytext.Ident && clauseEnd[strings.ToUpper(t.Text)]:
				break loop
			}
		}
		switch {
		case t.IsPunct("("), t.IsPunct("["):
			depth++
		case t.IsPunct(")"), t.IsPunct("]"):
			depth--
		}
		cur = append(cur, t)
	}
	items = append(items, cur)
	names := make([]string, 0, len(items))
	for _, item := range items {
		name, err := groupByColumn(item)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// clauseEnd are the words that end a GROUP BY list.
var clauseEnd = map[string]bool{
	"HAVING": true, "QUALIFY": true, "WINDOW": true, "ORDER": true, "LIMIT": true,
	"UNION": true, "INTERSECT": true, "EXCEPT": true, "SELECT": true, "FROM": true,
	"WHERE": true, "WITH": true,
}

// explicitList is the message of every GROUP BY that is not a list of
// columns (upstream's wording, with what was found).
const explicitList = "GROUP BY must use an explicit list of columns. Avoid expressions like `GROUP BY ALL` or `GROUP BY 1, 2, 3`"

func groupByColumn(item []querytext.Token) (string, error) {
	text := tokensText(item)
	if len(item) == 0 {
		return "", fmt.Errorf("%s: the list has an empty element", explicitList)
	}
	if len(item) == 1 {
		t := item[0]
		switch {
		case t.IsKeyword("ALL"):
			return "", fmt.Errorf("%s: found GROUP BY %s", explicitList, t.Text)
		case t.Kind == querytext.Number:
			return "", fmt.Errorf("%s: found the ordinal %s", explicitList, t.Text)
		case t.Kind == querytext.QuotedIdent:
			v := t.Value()
			return v[strings.LastIndexByte(v, '.')+1:], nil
		case t.Kind == querytext.Ident:
			return t.Text, nil
		}
		return "", fmt.Errorf("%s: found %s", explicitList, text)
	}
	// A qualified name: ident (. ident)*.
	for i, t := range item {
		ok := t.IsPunct(".")
		if i%2 == 0 {
			ok = t.Kind == querytext.Ident || t.Kind == querytext.QuotedIdent
		}
		if !ok || len(item)%2 == 0 {
			return "", fmt.Errorf("%s: found the expression %s", explicitList, text)
		}
	}
	return item[len(item)-1].Value(), nil
}

func tokensText(ts []querytext.Token) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Text
	}
	return strings.Join(parts, " ")
}
