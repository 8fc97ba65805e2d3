/// How a dataset's samples are supervised.
public enum Supervision: String, Codable, CaseIterable {
    /// Panoptic, instance or semantic data: matching, class and mask losses.
    case masks
    /// Box-only data: box matching, class loss and the box projection loss.
    case boxes
    /// Image-level labels only: Detic's image-label loss.
    case imageLabels = "image_labels"
}
