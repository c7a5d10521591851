// promql-check reads one JSON object per line on stdin and answers each with one JSON line on
// stdout, using Prometheus' own code (the parser the Prometheus server and promtool use, type
// checks included):
//
//	{"expr": "<PromQL>"}        -> {"metrics": [...]} or {"errors": ["<parser message>"]}
//	{"rules": "<rules YAML>"}   -> the same for a rule file's `groups:` as `promtool check rules`
//	                               validates it (names, for, labels, annotation templates, every
//	                               expr), metrics being the names all exprs select together
//
// metrics are the metric names the expressions select, sorted. Built by
// tools/build-promql-check.sh for the tests of the dashboard and the PrometheusRule.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

type request struct {
	Expr  *string `json:"expr"`
	Rules *string `json:"rules"`
}

type answer struct {
	Errors  []string `json:"errors,omitempty"`
	Metrics []string `json:"metrics"`
}

var promql = parser.NewParser(parser.Options{})

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fail("not a JSON request line: %v", err)
		}
		var a answer
		switch {
		case req.Expr != nil:
			a = checkExprs([]string{*req.Expr})
		case req.Rules != nil:
			a = checkRules(*req.Rules)
		default:
			fail(`a request line needs "expr" or "rules"`)
		}
		if err := out.Encode(a); err != nil {
			fail("%v", err)
		}
	}
	if err := in.Err(); err != nil {
		fail("reading stdin: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "promql-check: "+format+"\n", args...)
	os.Exit(2)
}

func checkRules(content string) answer {
	groups, errs := rulefmt.Parse([]byte(content), false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		a := answer{Metrics: []string{}}
		for _, err := range errs {
			a.Errors = append(a.Errors, err.Error())
		}
		return a
	}
	var exprs []string
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			exprs = append(exprs, rule.Expr)
		}
	}
	return checkExprs(exprs)
}

func checkExprs(exprs []string) answer {
	a := answer{Metrics: []string{}}
	names := map[string]bool{}
	for _, expr := range exprs {
		parsed, err := promql.ParseExpr(expr)
		if err != nil {
			a.Errors = append(a.Errors, err.Error())
			continue
		}
		parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
			selector, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if selector.Name != "" {
				names[selector.Name] = true
			}
			for _, matcher := range selector.LabelMatchers {
				if matcher.Name == labels.MetricName && matcher.Type == labels.MatchEqual {
					names[matcher.Value] = true
				}
			}
			return nil
		})
	}
	for name := range names {
		a.Metrics = append(a.Metrics, name)
	}
	sort.Strings(a.Metrics)
	return a
}
