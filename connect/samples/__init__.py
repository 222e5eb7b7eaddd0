"""Product samples: a creator asks a brand for a campaign product, the brand ships it, and the
creator owes content featuring it by a deadline."""
