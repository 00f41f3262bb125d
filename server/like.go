package server

import "strings"

// likeMatch reports whether s matches a Flight SQL filter pattern: SQL LIKE
// with % (any run) and _ (any one character), case-sensitive.
func likeMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	memo := map[[2]int]bool{}
	match = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(t)
		case p[i] == '%':
			r = match(i+1, j) || (j < len(t) && match(i, j+1))
		case j < len(t) && (p[i] == '_' || p[i] == t[j]):
			r = match(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return match(0, 0)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
