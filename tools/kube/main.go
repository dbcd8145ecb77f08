// A minimal Kubernetes control plane in one program, built from the
// published Go modules:
//
//	kube control-plane --dir DIR [--crds DIR]
//	    etcd and kube-apiserver in this process, on ports the OS chooses
//	    (127.0.0.1 only), with a CA, serving certificate, service-account
//	    keys and an admin token generated into DIR; writes DIR/kubeconfig,
//	    installs the CRDs found in --crds once the API server is ready, then
//	    writes DIR/ready.
//	kube kube-controller-manager [flags]
//	kube kube-scheduler [flags]
//	kube kwok [flags]
//	    that component with its own flags, as its own binary would run.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/component-base/cli"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	heartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/config"
	kwok "sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube control-plane|kube-controller-manager|kube-scheduler|kwok [flags]")
		os.Exit(2)
	}
	component := os.Args[1]
	// Each component reads its flags from os.Args as its own binary would.
	os.Args = append([]string{component}, os.Args[2:]...)
	switch component {
	case "control-plane":
		if err := runControlPlane(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "control-plane: %v\n", err)
			os.Exit(1)
		}
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kwok":
		runKwok()
	default:
		fmt.Fprintf(os.Stderr, "kube: unknown component %q\n", component)
		os.Exit(2)
	}
}

// runKwok runs KWOK with its "fast" stages (as kwokctl configures it):
// nodes initialized and kept alive with leases, pods made Ready at once,
// a Job's pods completed, deleted pods removed.
func runKwok() {
	// The Kubernetes components' packages register flags (such as --version) on pflag's global set; KWOK declares its own.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ExitOnError)
	stages, err := os.CreateTemp("", "kwok-stages-*.yaml")
	if err != nil {
		fmt.Fprintf(os.Stderr, "kwok: %v\n", err)
		os.Exit(1)
	}
	defer os.Remove(stages.Name())
	docs := []string{nodefast.DefaultNodeInit, heartbeat.DefaultNodeHeartbeatWithLease, podfast.DefaultPodReady, podfast.DefaultPodComplete, podfast.DefaultPodDelete}
	if _, err := stages.WriteString(strings.Join(docs, "\n---\n")); err != nil {
		fmt.Fprintf(os.Stderr, "kwok: %v\n", err)
		os.Exit(1)
	}
	stages.Close()
	os.Args = append(os.Args, "--config="+stages.Name())
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, flagset)
	ctx, err = config.InitFlags(ctx, flagset)
	if err != nil {
		logger.Error("Init config flags", "err", err)
		os.Exit(1)
	}
	command := kwok.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flagset)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		os.Exit(1)
	}
}
