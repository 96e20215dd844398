/**
 * Endpoint services: what a provider publishes (listeners, target group with its health check
 * and load balancing, allowed principals), its targets' health, and the verification of its
 * private DNS name.
 */
package dev.underpass.controlplane.service;
