package dev.underpass.cli;

import picocli.CommandLine.Option;

/** How an agent's commands trust the gateway and reach it: the same flags for running and for enrolling. */
final class GatewayTrustOptions {
    @Option(
            names = "--ca-file",
            paramLabel = "FILE",
            description = "Trust the gateway's certificate through this CA (PEM).")
    String caFile;

    @Option(
            names = "--pin",
            paramLabel = "sha256:HEX",
            description = "Trust only a gateway chain holding this certificate fingerprint.")
    String pin;

    @Option(
            names = "--proxy",
            paramLabel = "URL",
            description =
                    "HTTP CONNECT egress proxy, http://[user:password@]host:port (default: HTTPS_PROXY unless NO_PROXY excludes the gateway).")
    String proxy;
}
