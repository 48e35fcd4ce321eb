// Package client is a Go client of the Reservo API, generated from the OpenAPI document
// (api/openapi.yaml) by oapi-codegen, as any app's developer would generate one. The tests
// drive a booking from search to cancel through it, and check that it is generated from the
// document as it is now.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../openapi.yaml

// Generator is the oapi-codegen command of go:generate, for the test that regenerates.
const Generator = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"
