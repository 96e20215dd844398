/** The forward proxy for consumers such as CI runners: HTTP CONNECT, absolute-form http:// and SOCKS5 on one port, the egress policy and the direct egress it allows. */
package dev.underpass.gateway.consumer.proxy;
