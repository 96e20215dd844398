/**
 * The REST API over HTTP: routes, JSON in and out, authentication of each request, and the one
 * place where domain refusals become HTTP statuses and RFC 9457 problems.
 */
package dev.underpass.controlplane.api;
