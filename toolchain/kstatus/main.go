// Command kstatus prints what kstatus, the health library Flux's kustomize-controller and kpt use, computes for each
// Kubernetes object it reads: one JSON line per object with its status (Current, InProgress, Failed, Terminating)
// and message. The operator's tests read live objects through it, so "Flux would say Current" is proven with the
// library itself instead of a copy of its rules.
//
// Usage: kstatus [FILE...]   (stdin without FILE; JSON or YAML, several documents, `kind: List` unpacked)
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(files []string, stdin io.Reader, stdout io.Writer) error {
	if len(files) == 0 {
		return check(stdin, stdout)
	}
	for _, name := range files {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		err = check(file, stdout)
		file.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func check(input io.Reader, stdout io.Writer) error {
	decoder := utilyaml.NewYAMLOrJSONDecoder(input, 4096)
	encoder := json.NewEncoder(stdout)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		// Numbers as int64 where whole: kstatus reads metadata.generation with NestedInt64, which refuses float64.
		var object map[string]interface{}
		if err := utiljson.Unmarshal(raw, &object); err != nil {
			return err
		}
		if object == nil {
			continue // an empty document
		}
		for _, item := range unpack(object) {
			result, err := status.Compute(item)
			if err != nil {
				return fmt.Errorf("%s %s: %w", item.GetKind(), item.GetName(), err)
			}
			found := verdict{item.GetKind(), item.GetNamespace(), item.GetName(), string(result.Status), result.Message}
			if err := encoder.Encode(found); err != nil {
				return err
			}
		}
	}
}

// unpack returns the items of a `kind: List` (what `kubectl get -o json` prints for several objects), else the object.
func unpack(object map[string]interface{}) []*unstructured.Unstructured {
	items, isList := object["items"].([]interface{})
	if !isList {
		return []*unstructured.Unstructured{{Object: object}}
	}
	unpacked := make([]*unstructured.Unstructured, 0, len(items))
	for _, item := range items {
		if fields, ok := item.(map[string]interface{}); ok {
			unpacked = append(unpacked, &unstructured.Unstructured{Object: fields})
		}
	}
	return unpacked
}
