//! Quiver coordinator.
