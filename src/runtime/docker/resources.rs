//! The pure mapping of a service's [`Resources`] to the engine's `HostConfig` parts that
//! need a shape of their own: block IO weights and throttles, and device requests.

use std::collections::HashMap;

use bollard::models::{
    DeviceRequest as EngineDeviceRequest, ResourcesBlkioWeightDevice, ThrottleDevice,
};

use crate::model::resources::{DeviceRequest, Resources};

/// `BlkioWeightDevice`.
pub(super) fn weight_devices(r: &Resources) -> Option<Vec<ResourcesBlkioWeightDevice>> {
    let devices: Vec<_> = r
        .blkio
        .weight_device
        .iter()
        .map(|(path, weight)| ResourcesBlkioWeightDevice {
            path: Some(path.clone()),
            weight: Some(usize::from(*weight)),
        })
        .collect();
    (!devices.is_empty()).then_some(devices)
}

/// One of the `BlkioDevice*` throttle lists.
pub(super) fn throttles(list: &[(String, u64)]) -> Option<Vec<ThrottleDevice>> {
    let devices: Vec<_> = list
        .iter()
        .map(|(path, rate)| ThrottleDevice {
            path: Some(path.clone()),
            rate: Some(i64::try_from(*rate).unwrap_or(i64::MAX)),
        })
        .collect();
    (!devices.is_empty()).then_some(devices)
}

/// `DeviceRequests`, each with one capability set (as compose writes them).
pub(super) fn device_requests(r: &Resources) -> Option<Vec<EngineDeviceRequest>> {
    let requests: Vec<_> = r.device_requests.iter().map(device_request).collect();
    (!requests.is_empty()).then_some(requests)
}

fn device_request(d: &DeviceRequest) -> EngineDeviceRequest {
    EngineDeviceRequest {
        driver: d.driver.clone(),
        count: d.count,
        device_ids: (!d.device_ids.is_empty()).then(|| d.device_ids.clone()),
        capabilities: Some(vec![d.capabilities.clone()]),
        options: (!d.options.is_empty())
            .then(|| d.options.clone().into_iter().collect::<HashMap<_, _>>()),
    }
}

/// A size as the engine's signed byte count.
pub(super) fn bytes(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}
