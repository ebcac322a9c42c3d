"""A robotics hello-world: a synthetic camera frame goes through OpenCV, cv_bridge, a
sensor_msgs/Image message and a rosbag, and back; OpenCV finds the bright blob's centroid."""

import os
import tempfile

import cv2
import numpy as np
import rosbag
import rospy
from cv_bridge import CvBridge
from geometry_msgs.msg import PointStamped
from sensor_msgs.msg import Image

# A 64x48 BGR frame: black, with a white 20x20 square whose corner is at (20, 10).
frame = np.zeros((48, 64, 3), dtype=np.uint8)
cv2.rectangle(frame, (20, 10), (39, 29), (255, 255, 255), thickness=-1)

bridge = CvBridge()
stamp = rospy.Time(1700000000, 500000000)
msg = bridge.cv2_to_imgmsg(frame, encoding="bgr8")
msg.header.frame_id = "camera"
msg.header.stamp = stamp

# Record the frame to a bag and read it back, as a logged camera topic would be.
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "camera.bag")
    with rosbag.Bag(path, "w") as bag:
        bag.write("/camera/image_raw", msg, t=stamp)
    with rosbag.Bag(path) as bag:
        [(topic, recorded, t)] = list(bag.read_messages())
        size = os.path.getsize(path)

image = bridge.imgmsg_to_cv2(recorded, desired_encoding="bgr8")
gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
_, mask = cv2.threshold(gray, 127, 255, cv2.THRESH_BINARY)
m = cv2.moments(mask, binaryImage=True)

centroid = PointStamped()
centroid.header = recorded.header
centroid.point.x = m["m10"] / m["m00"]
centroid.point.y = m["m01"] / m["m00"]

print(f"OpenCV {cv2.__version__}, numpy {np.__version__}")
print(
    f"{topic}: {recorded._type} {recorded.width}x{recorded.height} {recorded.encoding}, "
    f"stamp {t.to_sec():.1f}, bag {size} bytes"
)
print(
    f"blob centroid in frame '{centroid.header.frame_id}': "
    f"({centroid.point.x:.1f}, {centroid.point.y:.1f}), area {int(m['m00'])} px"
)
