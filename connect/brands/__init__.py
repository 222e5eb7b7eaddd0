"""brands"""
