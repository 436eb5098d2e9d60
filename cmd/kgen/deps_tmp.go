package main
import (
_ "github.com/spf13/cobra"
_ "github.com/Masterminds/sprig/v3"
_ "gopkg.in/yaml.v3"
_ "github.com/rogpeppe/go-internal/testscript"
_ "golang.org/x/sys/unix"
)
func main(){}
