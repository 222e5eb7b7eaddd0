"""Finance staff's portal: liabilities, payout batches, exports."""
