/**
 * The control plane put together: {@link dev.underpass.controlplane.ControlPlane} builds the parts
 * (tenancy, credentials, endpoint services, endpoints, audit) on one store and hands them to the
 * REST API and the gateway; imports run api, then this package, then the parts, then core.
 */
package dev.underpass.controlplane;
