//! The fake's call log: which operation was called, with its main argument.

/// A runtime operation, as [`FakeRuntime::fail_next`](super::FakeRuntime::fail_next) and
/// [`CallCounts`](crate::runtime::CallCounts) name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `list_containers`.
    ListContainers,
    /// `inspect_container`.
    InspectContainer,
    /// `list_images`.
    ListImages,
    /// `pull_image`.
    PullImage,
    /// `tag_image`.
    TagImage,
    /// `inspect_distribution`.
    InspectDistribution,
    /// `inspect_image`.
    InspectImage,
    /// `build_image`.
    BuildImage,
    /// `list_built_images`.
    ListBuiltImages,
    /// `remove_image`.
    RemoveImage,
    /// `rename_container`.
    RenameContainer,
    /// `ensure_network`.
    EnsureNetwork,
    /// `ensure_volume`.
    EnsureVolume,
    /// `create_container`.
    CreateContainer,
    /// `start_container`.
    StartContainer,
    /// `stop_container`.
    StopContainer,
    /// `remove_container`.
    RemoveContainer,
    /// `list_managed_networks`.
    ListManagedNetworks,
    /// `list_managed_volumes`.
    ListManagedVolumes,
    /// `remove_network`.
    RemoveNetwork,
    /// `events`.
    Events,
}

impl Op {
    /// The trait method's name (`create_container`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::ListContainers => "list_containers",
            Self::InspectContainer => "inspect_container",
            Self::ListImages => "list_images",
            Self::PullImage => "pull_image",
            Self::TagImage => "tag_image",
            Self::InspectDistribution => "inspect_distribution",
            Self::InspectImage => "inspect_image",
            Self::BuildImage => "build_image",
            Self::ListBuiltImages => "list_built_images",
            Self::RemoveImage => "remove_image",
            Self::RenameContainer => "rename_container",
            Self::EnsureNetwork => "ensure_network",
            Self::EnsureVolume => "ensure_volume",
            Self::CreateContainer => "create_container",
            Self::StartContainer => "start_container",
            Self::StopContainer => "stop_container",
            Self::RemoveContainer => "remove_container",
            Self::ListManagedNetworks => "list_managed_networks",
            Self::ListManagedVolumes => "list_managed_volumes",
            Self::RemoveNetwork => "remove_network",
            Self::Events => "events",
        }
    }

    /// True for operations that change the engine.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::PullImage
                | Self::TagImage
                | Self::BuildImage
                | Self::RemoveImage
                | Self::RenameContainer
                | Self::EnsureNetwork
                | Self::EnsureVolume
                | Self::CreateContainer
                | Self::StartContainer
                | Self::StopContainer
                | Self::RemoveContainer
                | Self::RemoveNetwork
        )
    }
}

/// One recorded call, with its main argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `list_containers`.
    ListContainers,
    /// `inspect_container(id)`.
    Inspect {
        /// ID or name asked for.
        id: String,
    },
    /// `list_images`.
    ListImages,
    /// `pull_image(reference)`.
    Pull {
        /// The reference as given.
        reference: String,
    },
    /// `inspect_distribution(reference)`.
    InspectDistribution {
        /// The reference as given.
        reference: String,
    },
    /// `inspect_image(reference)`.
    InspectImage {
        /// The reference as given.
        reference: String,
    },
    /// `tag_image(image, reference)`.
    Tag {
        /// The image tagged.
        image: String,
        /// The new tag.
        reference: String,
    },
    /// `build_image(request)`.
    Build {
        /// The tag built.
        tag: String,
        /// The build hash label given, if any.
        hash: Option<String>,
    },
    /// `list_built_images`.
    ListBuiltImages,
    /// `remove_image(id)`.
    RemoveImage {
        /// The image ID.
        id: String,
    },
    /// `rename_container(id, name)`.
    Rename {
        /// Container ID.
        id: String,
        /// The new name.
        name: String,
    },
    /// `ensure_network(spec)`.
    EnsureNetwork {
        /// Docker network name.
        name: String,
    },
    /// `ensure_volume(spec)`.
    EnsureVolume {
        /// Docker volume name.
        name: String,
    },
    /// `create_container(request)`.
    Create {
        /// Container name.
        name: String,
    },
    /// `start_container(id)`.
    Start {
        /// Container ID.
        id: String,
    },
    /// `stop_container(id, grace)`.
    Stop {
        /// Container ID.
        id: String,
    },
    /// `remove_container(id)`.
    Remove {
        /// Container ID.
        id: String,
    },
    /// `list_managed_networks(project)`.
    ListManagedNetworks {
        /// Project name (`None`: every project).
        project: Option<String>,
    },
    /// `list_managed_volumes()`.
    ListManagedVolumes,
    /// `remove_network(name)`.
    RemoveNetwork {
        /// Docker network name.
        name: String,
    },
    /// `events()`.
    Events,
}

impl Call {
    /// True for calls that change the engine.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Pull { .. }
                | Self::EnsureNetwork { .. }
                | Self::EnsureVolume { .. }
                | Self::Create { .. }
                | Self::Start { .. }
                | Self::Stop { .. }
                | Self::Remove { .. }
                | Self::RemoveNetwork { .. }
        )
    }
}
