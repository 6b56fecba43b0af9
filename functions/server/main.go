// Command server is the functions image's entry point: it serves the
// scanner, completion and notifier functions with functions-framework-go;
// FUNCTION_TARGET picks the one a Cloud Run service runs.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/bqbackfill/bqbackfill/functions/completion"
	_ "github.com/bqbackfill/bqbackfill/functions/notifier"
	_ "github.com/bqbackfill/bqbackfill/functions/scanner"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("functions server: %v", err)
	}
}
